// Config parsing from an already parsed JSON value (a config embedded in another document).
#pragma once
#include <string>

#include "ie/clip.h"
#include "io/json.h"

namespace ie::clip::detail {
Config config_from_value(const json::Value& root, const std::string& source);
}
