// Parameter storage and loading shared by the models: a table of named parameters laid out in one
// flat buffer (64-byte aligned each, so SIMD kernels can use views directly), seeded random
// initialisation like the parity fixtures, and a strict safetensors loader that reports every
// missing, misshaped and unexpected tensor in one error.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ie/params.h"
#include "ie/safetensors.h"
#include "ie/tensor.h"

namespace ie::nn {

// Registers parameters: name, shape and a 64-byte aligned offset in the flat buffer.
struct ParamTable {
  std::vector<ParamInfo> infos;
  int64_t total = 0;
  int add(const std::string& name, const Shape& shape);
};

// The flat buffer and one view per parameter (built once the table is complete).
struct ParamStore {
  ParamTable table;
  std::map<std::string, int> index;
  Tensor flat;
  std::vector<Tensor> views;

  void allocate(Device device);
  // A gradient buffer of the same layout (and its views) on first use; true when just allocated
  // (the caller zeroes it in stream order).
  bool ensure_grads(Tensor& grads, std::vector<Tensor>& views, Device device) const;
  int64_t num_params() const;  // elements, without alignment padding
  // -1 when there is no such parameter.
  int find(const std::string& name) const;
};

// Fills every parameter like the parity fixtures: weights N(0, 1/fan_in), 1-D non-bias tensors
// (norm scales) 1 + 0.1·N(0,1), biases 0.05·N(0,1), names in `embeddings` N(0, 0.2²).
// Enqueued as one stream task.
void init_random(const ParamStore& store, uint64_t seed, Device device,
                 const std::function<bool(const std::string&)>& is_embedding = nullptr);

struct LoadSpec {
  std::string model = "model";  // for messages: "<model>: the weights in <file> do not match ..."
  // Maps a file key to the parameter name it fills ("" = ignore the tensor, e.g. a buffer such as
  // position_ids). Default: identity.
  std::function<std::string(const std::string&)> rename;
  // Accepts a shape mismatch for a parameter, copying the file tensor with `fill` instead (returns
  // false to report the mismatch). Used for conv_in widening.
  std::function<bool(const ParamInfo&, const safetensors::TensorInfo&)> accept_shape;
  std::function<void(const ParamInfo&, const Tensor& file_tensor, float* dst)> fill;
  // Extra hint appended to the error when shapes mismatch.
  std::function<std::string()> mismatch_hint;
};

// Loads all parameters from `reader` (F16/BF16/F64 converted to float32) into the store's buffer,
// synchronously. Throws one ie::Error listing every problem.
void load(ParamStore& store, const safetensors::Reader& reader, const LoadSpec& spec, Device device);

}  // namespace ie::nn
