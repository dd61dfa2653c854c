// Helpers for the model tests that read the parity fixtures (../shared/parity, or IE_SHARED_DIR).
#pragma once
#include "io/json.h"
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ie/ops.h"
#include "ie/tensor.h"

namespace iet {

inline std::string shared_dir() {
  const char* env = std::getenv("IE_SHARED_DIR");
  return env && *env ? env : std::string(IE_SOURCE_DIR) + "/../shared";
}
inline bool exists(const std::string& p) {
  struct stat s;
  return stat(p.c_str(), &s) == 0;
}
inline std::string read_text(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
// manifest.json with its -Infinity literals (not JSON) replaced by null.
inline std::string manifest_text() {
  std::string text = read_text(shared_dir() + "/parity/manifest.json");
  for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
  return text;
}
// A tensor's values as float32 (other dtypes converted), after the work producing it.
inline std::vector<float> host(const ie::Tensor& t) {
  ie::Tensor f = t.dtype() == ie::DType::F32 ? t : ie::ops::cast(t, ie::DType::F32);
  std::vector<float> v(size_t(f.numel()));
  ie::ops::copy_to_host(f, v.data());
  return v;
}
// ||a - b|| / ||b||.
inline double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

// A JSON value as text (enough for configs: objects, arrays, strings, numbers, bools, null).
inline std::string json_dump(const ie::json::Value& v) {
  using T = ie::json::Type;
  switch (v.type) {
    case T::Null: return "null";
    case T::Bool: return v.boolean ? "true" : "false";
    case T::Number: return v.text;
    case T::String: return "\"" + v.text + "\"";
    case T::Array: {
      std::string s = "[";
      for (size_t i = 0; i < v.items.size(); ++i) s += (i ? "," : "") + json_dump(v.items[i]);
      return s + "]";
    }
    case T::Object: {
      std::string s = "{";
      for (size_t i = 0; i < v.items.size(); ++i) s += (i ? ",\"" : "\"") + v.keys[i] + "\":" + json_dump(v.items[i]);
      return s + "}";
    }
  }
  return "";
}
}  // namespace iet
