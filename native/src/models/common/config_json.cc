#include "models/common/config_json.h"

#include "ie/error.h"

namespace ie::nn {

json::Value parse_config(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::ParseError& e) {
    fail(source, ": not valid JSON (", e.what(), " at byte ", e.offset, ")");
  }
}

}  // namespace ie::nn
