// Safetensors checkpoints (https://github.com/huggingface/safetensors): reading one file or a
// sharded checkpoint ("*.safetensors.index.json"), and writing a file atomically.
//
// Layout of a file: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {string: string}, name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...}
// then the data section; a tensor's little-endian, row-major bytes are data[b, e).
//
// Opening validates the whole header (every entry's dtype, shape, offsets, sizes, overlaps, the
// file length) so that a corrupt or truncated file is one clear ie::Error naming the file, the
// tensor and the problem, before any data is read. Loading converts straight from the mapped
// file into a new tensor.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ie/tensor.h"

namespace ie::safetensors {

// Element types a safetensors file can hold (the subset instructedit reads).
enum class FileDType : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char* file_dtype_tag(FileDType t);   // as in the header: "F32", "BOOL"
const char* file_dtype_name(FileDType t);  // for messages and the JS API: "float32", "bool"
size_t file_dtype_size(FileDType t);
bool file_dtype_is_float(FileDType t);
// The header tag "F32" -> FileDType; false for a tag this library does not know.
bool file_dtype_from_tag(const std::string& tag, FileDType* out);
// The file dtype a tensor of `t` is saved as.
FileDType file_dtype_of(DType t);

// The dtype a stored tensor loads as: floating-point tensors as `float_dtype` (float32, float16
// or bfloat16), integer and bool tensors as int32 (the library's only integer type).
DType load_dtype(FileDType stored, DType float_dtype);

struct TensorInfo {
  std::string name;
  FileDType dtype = FileDType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range in the data section of its file
  int file = 0;                 // which of the reader's files holds it (sharded checkpoints)
};

struct OpenOptions {
  // Map the file into memory (read-only). Off, or when mmap fails, the data is read with pread.
  bool mmap = true;
};

class Reader {
 public:
  // `path` is a .safetensors file or a sharded checkpoint's *.index.json (its "weight_map" names
  // each tensor's file, relative to the index). Throws ie::Error for anything invalid or missing.
  static Reader open(const std::string& path, const OpenOptions& options = {});

  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  ~Reader();

  const std::string& path() const;
  // Every tensor, sorted by name.
  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find(const std::string& name) const;  // nullptr if absent
  // The file's "__metadata__" (for an index: its "metadata", numbers written as text).
  const std::map<std::string, std::string>& metadata() const;
  // Paths of the files behind this reader (one, or the shards of an index).
  std::vector<std::string> files() const;

  // A new tensor holding `name`, converted to load_dtype(stored, float_dtype), on `device`.
  // Integer tensors are range-checked (an int64 value outside int32 is an error, not a wrap).
  // Safe to call from several threads at once.
  Tensor load(const std::string& name, DType float_dtype = DType::F32, Device device = {}) const;

 private:
  struct Impl;
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Writes `tensors` (+ string metadata) to `path` as one safetensors file, in sorted name order,
// with the header padded to 8 bytes as the reference writer does. Atomic: the bytes go to
// "<path>.tmp-<pid>-<random>", which is fsync'ed and renamed over `path`, so a crash or an error
// never leaves a partial file at `path` (an existing file there stays intact until the rename).
// Waits for queued work on the tensors (their device streams) before reading them.
void save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata = {});

}  // namespace ie::safetensors
