// A model's parameter layout: names (the reference library's state_dict keys), shapes and offsets
// into one flat float32 buffer. Shared by every model (UNet, VAE, CLIP text encoder).
#pragma once
#include <cstdint>
#include <string>

#include "ie/tensor.h"

namespace ie {

struct ParamInfo {
  std::string name;  // state_dict key
  Shape shape;
  int64_t offset = 0;  // in elements, into the flat buffer (64-byte aligned)
};

}  // namespace ie
