#include "ie/dtype.h"

#include <cstdlib>

namespace ie {

bool dtype_from_name(const std::string& n, DType* out) {
  if (n == "float32") *out = DType::F32;
  else if (n == "float16") *out = DType::F16;
  else if (n == "bfloat16") *out = DType::BF16;
  else if (n == "int32") *out = DType::I32;
  else return false;
  return true;
}

bool device_from_name(const std::string& n, Device* out) {
  if (n == "cpu") {
    *out = Device{DeviceType::CPU, 0};
    return true;
  }
  if (n == "cuda") {
    *out = Device{DeviceType::CUDA, 0};
    return true;
  }
  if (n.rfind("cuda:", 0) == 0 && n.size() > 5 && n.size() < 9) {
    for (size_t i = 5; i < n.size(); ++i)
      if (n[i] < '0' || n[i] > '9') return false;
    *out = Device{DeviceType::CUDA, std::atoi(n.c_str() + 5)};
    return true;
  }
  return false;
}

}  // namespace ie
