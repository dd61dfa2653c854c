// cuBLAS as an optional GEMM backend, loaded at run time with dlopen (never linked: CI and the
// build machines have no cuBLAS). Plain C++, no CUDA headers. See native/src/cuda/README.md
// ("cuBLAS") for how a machine points us at its library.
//
// Search order (the first that loads and exports every entry point we call wins):
//   1. $INSTRUCTEDIT_CUBLAS: a path to libcublas.so.*. When set (non-empty) it is the ONLY
//      candidate: an explicit choice that fails is reported, not silently replaced by another
//      library. INSTRUCTEDIT_CUBLAS=none (or 0, off) disables cuBLAS.
//   2. libcublas.so.13, then libcublas.so.12 through the dynamic linker's default search path
//      (LD_LIBRARY_PATH, the RUNPATH of the process, ldconfig's cache).
//   3. libcublas.so.13, libcublas.so.12 in each directory of $INSTRUCTEDIT_CUBLAS_DIRS
//      (colon-separated), e.g. PyTorch's wheels: site-packages/nvidia/cu13/lib (CUDA 13 wheels,
//      package `nvidia-cublas`) or site-packages/nvidia/cublas/lib (CUDA 12, `nvidia-cublas-cu12`).
//   4. Last resort: $CUDA_HOME/lib64, $CUDA_PATH/lib64, /usr/local/cuda/lib64.
// Before loading libcublas.so.N from a directory, libcublasLt.so.N from the same directory is
// loaded first: libcublas needs it, and a wheel's directory is usually not on the search path (an
// already loaded library satisfies the dependency by its soname).
//
// Float32 stays exact float32 through cuBLAS: CUBLAS_COMPUTE_32F with CUBLAS_DEFAULT_MATH (no
// TF32, no BF16x9 emulation); float16/bfloat16 inputs accumulate in float32 (CUBLAS_COMPUTE_32F,
// with CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION so split-K partial sums are float32 too).
#pragma once
#include <cstdint>
#include <string>

#include "ie/dtype.h"

namespace ie::cuda {

// ---- GEMM backend selection (implemented in gemm.cu) ---------------------------------------------

// Which implementation ie::cuda::gemm runs:
//   Ours:   our kernels (always available).
//   Cublas: cuBLAS where it is loaded and can take the call (K > 0, sizes within int, ...), else ours.
//   Auto:   per shape by measurement: the first time a (dtype, transA, transB, M, N, K, batch, bias,
//           float32 C, beta != 0) key is seen on a device, both paths are timed (cudaEvents, a few
//           repetitions, on the device stream; the host waits for the stream that once) and the
//           faster is cached (cuBLAS only when > 3% faster). Never measures while the stream is
//           being captured into a CUDA graph (uses the cached choice, else ours).
// Default: $INSTRUCTEDIT_GEMM (ours | cublas | auto), else auto when cuBLAS loaded, else ours.
enum class GemmBackend : int { Ours = 0, Cublas = 1, Auto = 2 };

// The process-wide mode (the environment's until set). Tests use set_gemm_backend to force a path;
// change it only while no GEMM is queued or running.
GemmBackend gemm_backend();
void set_gemm_backend(GemmBackend b);

// One line for backends(): "cublas 13.0.2 loaded from <path>; auto" (plus how many shapes were
// measured on the device and how many went to cuBLAS), or "ours (cuBLAS not found: <reason>)".
// Loads cuBLAS if not yet tried. Never throws.
std::string gemm_backend_info(int device);

// Counters for tests (per device, since the process started or the last reset).
struct GemmBackendStats {
  int64_t ours_calls = 0;    // gemm calls run by our kernels (measurement runs not counted)
  int64_t cublas_calls = 0;  // gemm calls run by cuBLAS (measurement runs not counted)
  int64_t measurements = 0;  // keys timed by auto
  int64_t cached = 0;        // keys with a cached auto choice now
  int64_t cached_cublas = 0; // ... of which cuBLAS won
};
GemmBackendStats gemm_backend_stats(int device);
// Forgets the cached auto choices and zeroes the counters of the device (tests). Call only while
// no GEMM is queued or running on it.
void gemm_backend_reset(int device);

// ---- the loader (cublas_loader.cu) ---------------------------------------------------------------

namespace cublas {

// Loads cuBLAS once per process (thread-safe) and says whether it is usable. Never throws.
bool available();
// "cublas 13.0.2 loaded from /path/libcublas.so.13" or "cuBLAS not found: <reason>".
std::string load_info();

// Runs the search now from the current environment, without touching the process-wide library
// (what it opened is closed again), and returns the line load_info() would give. For tests of
// the error reporting; never throws.
std::string probe();

// C = alpha·op(A)·op(B) + beta·C, row-major, the arguments of ie::cuda::gemm (no bias): one
// cublasGemmStridedBatchedEx on stream(device) with the operands swapped for cuBLAS's
// column-major order. Returns false (launching nothing) when cuBLAS is not loaded or cannot take
// the call: K == 0, a size or leading dimension beyond int or below what cuBLAS requires, a shared
// C (strideC == 0 with batch > 1), a dtype other than float32/float16/bfloat16. Throws ie::Error
// when cuBLAS itself reports an error.
bool gemm(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, int64_t strideA, const void* B, int64_t ldb, int64_t strideB, float beta, void* C,
          int64_t ldc, int64_t strideC, int64_t batch, bool c_f32, int device);

// Why the device has no cuBLAS handle ("" when it has one, or none was asked for yet). Creates
// nothing; never throws.
std::string handle_error(int device);

// Whether cublas::gemm would take a call of this shape (same conditions; false when not loaded).
bool can_take(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
              int64_t ldc, int64_t strideC, int64_t batch);

}  // namespace cublas
}  // namespace ie::cuda
