// Helpers for tests that read the parity fixtures (../shared/parity, or $IE_SHARED_DIR/parity).
#pragma once
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ie/ops.h"

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
// A tensor's values as float32 (other dtypes converted), after the work producing it.
inline std::vector<float> host(const ie::Tensor& t) {
  ie::Tensor f = t.dtype() == ie::DType::F32 ? t : ie::ops::cast(t, ie::DType::F32);
  std::vector<float> v(size_t(f.numel()));
  ie::ops::copy_to_host(f, v.data());
  return v;
}

}  // namespace iet
