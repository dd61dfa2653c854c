// Reading a model's config.json text: a JSON syntax error is an ie::Error naming the file and offset.
#pragma once
#include <string>

#include "io/json.h"

namespace ie::nn {
json::Value parse_config(const std::string& text, const std::string& source);
}
