// Conversion of stored safetensors elements into a tensor's dtype, straight from the file's bytes
// (mapped or pread), in parallel blocks for large tensors.
#pragma once
#include <cstdint>
#include <string>

#include "ie/dtype.h"
#include "ie/safetensors.h"
#include "io/mapped_file.h"

namespace ie::io {

// Converts n elements of type `from`, stored at byte `offset` of `file`, into `out` (n elements of
// `to`). Supported: any float type to float32/float16/bfloat16; any integer or bool type to int32
// (an int64 outside the int32 range is an error). `what` prefixes error messages
// ("unet.safetensors: tensor 'x'").
void decode(const MappedFile& file, uint64_t offset, safetensors::FileDType from, int64_t n, DType to, void* out,
            const std::string& what);

}  // namespace ie::io
