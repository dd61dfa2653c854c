#include "io/decode.h"

#include <climits>
#include <cstring>
#include <exception>
#include <mutex>

#include "cpu/cast.h"
#include "ie/error.h"
#include "ie/parallel.h"

namespace ie::io {
namespace {

using safetensors::FileDType;

// Elements converted per step: the stored bytes (up to 8 per element) and a float32 staging row
// stay in L1/L2. Large tensors are split over the thread pool in runs of kGrainBlocks blocks.
constexpr int64_t kBlock = 4096;
constexpr int64_t kGrainBlocks = 16;
// Same-dtype tensors are plain copies, split into pieces of this many bytes.
constexpr size_t kCopyPiece = size_t(1) << 20;

// Remembers the first failure (lowest position) of a parallel loop: exceptions must not escape a
// pool thread, and the report should not depend on thread timing.
class FirstError {
 public:
  void record(int64_t at, std::exception_ptr e) {
    std::lock_guard<std::mutex> lk(mu_);
    if (at < at_) {
      at_ = at;
      error_ = std::move(e);
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mu_;
  int64_t at_ = INT64_MAX;
  std::exception_ptr error_;
};

template <typename T>
T load_le(const uint8_t* p) {  // the host is little-endian x86-64, as is the format
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Stored floats -> float32 (dst may be the output itself or a staging row).
void to_f32(FileDType from, const uint8_t* src, int64_t n, float* dst) {
  switch (from) {
    case FileDType::F32: std::memcpy(dst, src, size_t(n) * 4); break;
    case FileDType::F16: cpu::f16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n); break;
    case FileDType::BF16: cpu::bf16_to_f32(reinterpret_cast<const uint16_t*>(src), dst, n); break;
    case FileDType::F64:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(load_le<double>(src + 8 * i));
      break;
    default: fail("internal: to_f32 from a non-float type");
  }
}

// Stored integers/bools -> int32. Returns the index of the first value out of range, or -1.
int64_t to_i32(FileDType from, const uint8_t* src, int64_t n, int32_t* dst) {
  switch (from) {
    case FileDType::I64:
      for (int64_t i = 0; i < n; ++i) {
        int64_t v = load_le<int64_t>(src + 8 * i);
        if (v < INT32_MIN || v > INT32_MAX) return i;
        dst[i] = int32_t(v);
      }
      break;
    case FileDType::I32: std::memcpy(dst, src, size_t(n) * 4); break;
    case FileDType::I16:
      for (int64_t i = 0; i < n; ++i) dst[i] = load_le<int16_t>(src + 2 * i);
      break;
    case FileDType::I8:
      for (int64_t i = 0; i < n; ++i) dst[i] = int8_t(src[i]);
      break;
    case FileDType::U8:
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
      break;
    case FileDType::BOOL:
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i] != 0;
      break;
    default: fail("internal: to_i32 from a non-integer type");
  }
  return -1;
}

bool same_layout(FileDType from, DType to) {
  return (from == FileDType::F32 && to == DType::F32) || (from == FileDType::F16 && to == DType::F16) ||
         (from == FileDType::BF16 && to == DType::BF16) || (from == FileDType::I32 && to == DType::I32);
}

void copy_bytes(const MappedFile& file, uint64_t offset, size_t bytes, uint8_t* out) {
  int64_t pieces = int64_t((bytes + kCopyPiece - 1) / kCopyPiece);
  FirstError first;
  parallel_for(pieces, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      size_t at = size_t(p) * kCopyPiece, len = std::min(kCopyPiece, bytes - at);
      try {
        // Unmapped files are pread straight into the tensor; mapped ones are copied from the map.
        const uint8_t* src = file.read(offset + at, len, out + at);
        if (src != out + at) std::memcpy(out + at, src, len);
      } catch (...) {
        first.record(p, std::current_exception());
        return;
      }
    }
  });
  first.rethrow();
}

}  // namespace

void decode(const MappedFile& file, uint64_t offset, FileDType from, int64_t n, DType to, void* out,
            const std::string& what) {
  const size_t esize = safetensors::file_dtype_size(from);
  const bool float_in = safetensors::file_dtype_is_float(from);
  IE_CHECK(float_in == (to != DType::I32), what, ": cannot load ", safetensors::file_dtype_name(from), " data as ",
           dtype_name(to));
  if (n == 0) return;
  if (same_layout(from, to)) return copy_bytes(file, offset, size_t(n) * esize, static_cast<uint8_t*>(out));

  const int64_t blocks = (n + kBlock - 1) / kBlock;
  FirstError first;
  parallel_for(blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) {
    alignas(64) uint8_t raw[kBlock * 8];  // stored bytes of one block (pread target, or realigned)
    alignas(64) float row[kBlock];        // float32 staging for float16/bfloat16 outputs
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t i0 = blk * kBlock, cnt = std::min(kBlock, n - i0);
      try {
        const uint8_t* src = file.read(offset + uint64_t(i0) * esize, size_t(cnt) * esize, raw);
        // Offsets need not be aligned to the element size (the format does not require it).
        if (reinterpret_cast<uintptr_t>(src) % esize != 0) {
          std::memcpy(raw, src, size_t(cnt) * esize);
          src = raw;
        }
        if (to == DType::I32) {
          int64_t bad = to_i32(from, src, cnt, static_cast<int32_t*>(out) + i0);
          if (bad >= 0)
            fail(what, ": value ", load_le<int64_t>(src + 8 * bad), " at element ", i0 + bad,
                 " does not fit in int32 (instructedit's integer type)");
        } else if (to == DType::F32) {
          to_f32(from, src, cnt, static_cast<float*>(out) + i0);
        } else {
          const float* f = reinterpret_cast<const float*>(src);
          if (from != FileDType::F32) {
            to_f32(from, src, cnt, row);
            f = row;
          }
          uint16_t* dst = static_cast<uint16_t*>(out) + i0;
          if (to == DType::F16) cpu::f32_to_f16(f, dst, cnt);
          else cpu::f32_to_bf16(f, dst, cnt);
        }
      } catch (...) {
        first.record(blk, std::current_exception());
        return;
      }
    }
  });
  first.rethrow();
}

}  // namespace ie::io
