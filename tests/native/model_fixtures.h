// Helpers of the model tests: where the parity fixtures live (../shared, or $IE_SHARED_DIR), reading
// files and tensors back to the host.
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
inline std::vector<float> host(const ie::Tensor& t) {
  std::vector<float> v(size_t(t.numel()));
  ie::ops::copy_to_host(t, v.data());
  return v;
}

}  // namespace iet
