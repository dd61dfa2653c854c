// cuBLAS loaded at run time (see cublas_loader.h): dlopen, the few entry points we call declared
// here with their exact C ABI, one handle per device bound to stream(device), and the row-major →
// column-major mapping of ie::cuda::gemm onto cublasGemmStridedBatchedEx.
//
// Where the declarations were checked (public copies of NVIDIA's headers):
//   cublas_api.h of CUDA 13.0 (CUBLAS_VER_MAJOR 13), github.com/leomaxwell972/CU13ToolKit_Includes
//     include/cublas_api.h, and of CUDA 12.6, github.com/zspace/system.cuda-12.6 include/cublas_api.h:
//     the enums cublasStatus_t, cublasOperation_t, cublasGemmAlgo_t, cublasMath_t,
//     cublasComputeType_t below have the same values in both, and the prototypes of
//     cublasCreate_v2, cublasDestroy_v2, cublasGetProperty, cublasSetStream_v2, cublasSetMathMode,
//     cublasSetWorkspace_v2, cublasGetStatusName and cublasGemmStridedBatchedEx are identical.
//   cudaDataType_t (CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14) and libraryPropertyType
//     (MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL) come from library_types.h, which ships with the
//     CUDA runtime headers (no cuBLAS needed) and is included directly.
// All cuBLAS enums are C enums (int-sized); handles are pointers to an opaque struct.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <library_types.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/cublas_loader.h"
#include "ie/cuda.h"
#include "ie/error.h"

namespace ie::cuda::cublas {
namespace {

// ---- the C ABI we use (values from cublas_api.h, see above) --------------------------------------

struct cublasContext;                  // opaque
using Handle = cublasContext*;         // cublasHandle_t
using Status = int;                    // cublasStatus_t
constexpr Status kSuccess = 0;         // CUBLAS_STATUS_SUCCESS
enum Op : int { kOpN = 0, kOpT = 1 };  // cublasOperation_t: CUBLAS_OP_N, CUBLAS_OP_T
using Math = int;                      // cublasMath_t
constexpr Math kDefaultMath = 0;       // CUBLAS_DEFAULT_MATH (no TF32 / BF16x9 for float32)
constexpr Math kDisallowReducedPrecisionReduction = 16;  // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
using ComputeType = int;               // cublasComputeType_t
constexpr ComputeType kCompute32F = 68;  // CUBLAS_COMPUTE_32F (not _FAST_TF32 = 77, not _FAST_16F = 74)
using GemmAlgo = int;                  // cublasGemmAlgo_t
constexpr GemmAlgo kGemmDefault = -1;  // CUBLAS_GEMM_DEFAULT

using CreateFn = Status (*)(Handle*);                                   // cublasCreate_v2
using DestroyFn = Status (*)(Handle);                                   // cublasDestroy_v2
using GetPropertyFn = Status (*)(libraryPropertyType, int*);            // cublasGetProperty
using SetStreamFn = Status (*)(Handle, cudaStream_t);                   // cublasSetStream_v2
using SetMathModeFn = Status (*)(Handle, Math);                         // cublasSetMathMode
using SetWorkspaceFn = Status (*)(Handle, void*, size_t);               // cublasSetWorkspace_v2
using GetStatusNameFn = const char* (*)(Status);                        // cublasGetStatusName
using GemmStridedBatchedExFn = Status (*)(Handle, Op transa, Op transb, int m, int n, int k, const void* alpha,
                                          const void* A, cudaDataType Atype, int lda, long long strideA,
                                          const void* B, cudaDataType Btype, int ldb, long long strideB,
                                          const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long strideC, int batchCount, ComputeType computeType,
                                          GemmAlgo algo);  // cublasGemmStridedBatchedEx

struct Lib {
  bool ok = false;
  std::string path;   // the file the dynamic linker loaded
  std::string error;  // why not, when !ok
  int major = 0, minor = 0, patch = 0;
  CreateFn create = nullptr;
  DestroyFn destroy = nullptr;
  GetPropertyFn get_property = nullptr;
  SetStreamFn set_stream = nullptr;
  SetMathModeFn set_math_mode = nullptr;
  SetWorkspaceFn set_workspace = nullptr;     // optional
  GetStatusNameFn get_status_name = nullptr;  // optional
  GemmStridedBatchedExFn gemm_sb = nullptr;
};

std::string dl_error() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// "libcublas.so.13.0.2" -> "libcublasLt.so.13.0.2" (same version); "" when the name is not libcublas.so*.
std::string lt_name(const std::string& file) {
  const std::string pre = "libcublas.so";
  if (file.compare(0, pre.size(), pre) != 0) return "";
  return "libcublasLt.so" + file.substr(pre.size());
}

// Tries one candidate (a path with '/', or a bare soname for the default search path). Libraries
// are never dlclose'd: a handful of handles stay open for the life of the process, which is safe
// where closing a CUDA library might not be.
bool try_open(const std::string& cand, Lib& lib, std::string& why) {
  const size_t slash = cand.rfind('/');
  if (slash != std::string::npos) {
    // libcublas.so.N needs libcublasLt.so.N; a wheel's lib directory is usually not on the search
    // path, so load the one beside it first (the dependency is then satisfied by its soname).
    const std::string lt = lt_name(cand.substr(slash + 1));
    if (!lt.empty()) {
      const std::string lt_path = cand.substr(0, slash + 1) + lt;
      if (exists(lt_path)) dlopen(lt_path.c_str(), RTLD_NOW | RTLD_LOCAL);  // failure shows below
    }
  }
  dlerror();
  void* so = dlopen(cand.c_str(), RTLD_NOW | RTLD_LOCAL);
  // Another dependency missing from the search path ("libX.so.N: cannot open shared object
  // file"): load it from the same directory and try again (a few times at most).
  for (int retry = 0; !so && slash != std::string::npos && retry < 4; ++retry) {
    const std::string err = dl_error();
    const size_t colon = err.find(": cannot open shared object file");
    const std::string dep = colon == std::string::npos ? "" : err.substr(0, colon);
    const std::string dep_path = cand.substr(0, slash + 1) + dep;
    if (dep.empty() || dep.find('/') != std::string::npos || !exists(dep_path) ||
        !dlopen(dep_path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
      why = err;
      break;
    }
    dlerror();
    so = dlopen(cand.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (!so) {
    if (why.empty()) why = dl_error();
    if (why.find(cand) == std::string::npos) why = cand + ": " + why;
    return false;
  }
  Lib l;
  struct Sym {
    const char* name;
    void** slot;
    bool required;
  } syms[] = {
      {"cublasCreate_v2", reinterpret_cast<void**>(&l.create), true},
      {"cublasDestroy_v2", reinterpret_cast<void**>(&l.destroy), true},
      {"cublasGetProperty", reinterpret_cast<void**>(&l.get_property), true},
      {"cublasSetStream_v2", reinterpret_cast<void**>(&l.set_stream), true},
      {"cublasSetMathMode", reinterpret_cast<void**>(&l.set_math_mode), true},
      {"cublasGemmStridedBatchedEx", reinterpret_cast<void**>(&l.gemm_sb), true},
      {"cublasSetWorkspace_v2", reinterpret_cast<void**>(&l.set_workspace), false},
      {"cublasGetStatusName", reinterpret_cast<void**>(&l.get_status_name), false},
  };
  for (const Sym& s : syms) {
    *s.slot = dlsym(so, s.name);
    if (!*s.slot && s.required) {
      why = cand + " is not cuBLAS (it does not export " + s.name + ")";
      return false;
    }
  }
  if (l.get_property(MAJOR_VERSION, &l.major) != kSuccess || l.get_property(MINOR_VERSION, &l.minor) != kSuccess ||
      l.get_property(PATCH_LEVEL, &l.patch) != kSuccess) {
    why = cand + ": cublasGetProperty failed";
    return false;
  }
  // The ABI above was checked against the cuBLAS 12 and 13 headers only.
  if (l.major < 12 || l.major > 13) {
    why = cand + " is cuBLAS " + std::to_string(l.major) + "; only 12 and 13 are supported";
    return false;
  }
  Dl_info info;
  l.path = dladdr(reinterpret_cast<void*>(l.create), &info) && info.dli_fname ? info.dli_fname : cand;
  l.ok = true;
  lib = l;
  return true;
}

// Whether a dlopen error only says that this soname was not found on the search path.
bool just_absent(const std::string& err, const std::string& cand) {
  return err.compare(0, cand.size(), cand) == 0 && err.find("No such file or directory") != std::string::npos;
}

std::vector<std::string> split_dirs(const char* s) {
  std::vector<std::string> out;
  if (!s) return out;
  std::string cur;
  for (const char* p = s;; ++p) {
    if (*p == ':' || *p == 0) {
      while (cur.size() > 1 && cur.back() == '/') cur.pop_back();
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
      if (*p == 0) break;
    } else {
      cur += *p;
    }
  }
  return out;
}

// The search of cublas_loader.h from the current environment.
Lib search() {
  Lib lib;
  const char* sonames[] = {"libcublas.so.13", "libcublas.so.12"};
  const char* explicit_path = std::getenv("INSTRUCTEDIT_CUBLAS");
  if (explicit_path && *explicit_path) {
    const std::string p = explicit_path;
    if (p == "none" || p == "0" || p == "off") {
      lib.error = "disabled by INSTRUCTEDIT_CUBLAS=" + p;
      return lib;
    }
    std::string why;
    if (p.find('/') != std::string::npos && !exists(p)) why = "no such file";
    else if (try_open(p, lib, why)) return lib;
    lib.error = "INSTRUCTEDIT_CUBLAS=" + p + ": " + why;
    return lib;
  }
  std::vector<std::string> failures;  // candidates that exist but did not load
  for (const char* so : sonames) {
    std::string why;
    if (try_open(so, lib, why)) return lib;
    if (!just_absent(why, so)) failures.push_back(why);
  }
  std::vector<std::string> dirs = split_dirs(std::getenv("INSTRUCTEDIT_CUBLAS_DIRS"));
  const size_t n_user_dirs = dirs.size();
  for (const char* var : {"CUDA_HOME", "CUDA_PATH"}) {
    const char* v = std::getenv(var);
    if (v && *v) dirs.push_back(std::string(v) + "/lib64");
  }
  dirs.push_back("/usr/local/cuda/lib64");
  for (const std::string& d : dirs)
    for (const char* so : sonames) {
      const std::string p = d + "/" + so;
      if (!exists(p)) continue;
      std::string why;
      if (try_open(p, lib, why)) return lib;
      failures.push_back(why);
    }
  std::string e;
  if (!failures.empty()) {
    for (size_t i = 0; i < failures.size(); ++i) e += (i ? "; " : "") + failures[i];
  } else {
    e = "libcublas.so.13/.12 not on the library search path";
    e += n_user_dirs == 0 ? " (INSTRUCTEDIT_CUBLAS_DIRS unset)" : ", nor in INSTRUCTEDIT_CUBLAS_DIRS";
    e += ", nor in";
    for (size_t i = n_user_dirs; i < dirs.size(); ++i) e += (i > n_user_dirs ? ", " : " ") + dirs[i];
  }
  lib.error = e;
  return lib;
}

std::string info_of(const Lib& l) {
  if (!l.ok) return "cuBLAS not found: " + l.error;
  return "cublas " + std::to_string(l.major) + "." + std::to_string(l.minor) + "." + std::to_string(l.patch) +
         " loaded from " + l.path;
}

const Lib& lib() {
  static std::once_flag once;
  static Lib* l = nullptr;
  std::call_once(once, [] {
    l = new Lib();  // lives until exit
    try {
      *l = search();
    } catch (const std::exception& e) {
      l->ok = false;
      l->error = e.what();
    }
  });
  return *l;
}

// ---- per-device handles ---------------------------------------------------------------------------

constexpr int kMaxDevices = 64;

struct DeviceHandle {
  std::once_flag init;
  Handle h = nullptr;
  std::string error;  // why there is no handle
  std::mutex mu;      // a handle is not to be used by two threads at once
  std::atomic<bool> tried{false};  // creation was attempted (h or error is final)
  // The stream the handle launches on, and our workspace (re-set after every cublasSetStream).
  // A thread capturing a CUDA graph has its own capture stream (runtime.cu), so the stream is
  // checked on every call: work launched on the device's normal stream during a capture would run
  // at once instead of being recorded.
  cudaStream_t bound = nullptr;
  void* ws = nullptr;
  size_t ws_bytes = 0;
};

// Lives until exit; handles are never destroyed (cublasDestroy after the CUDA context is torn
// down at exit can crash).
DeviceHandle* handles() {
  static DeviceHandle* hs = new DeviceHandle[kMaxDevices];
  return hs;
}

DeviceHandle& device_handle(int device) {
  IE_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  DeviceHandle& d = handles()[device];
  std::call_once(d.init, [&] {
    struct Done {
      std::atomic<bool>& t;
      ~Done() { t = true; }
    } done{d.tried};
    const Lib& l = lib();
    if (!l.ok) {
      d.error = l.error;
      return;
    }
    cudaStream_t st = stream(device);  // makes the device current: the handle belongs to it
    Handle h = nullptr;
    Status s = l.create(&h);
    if (s != kSuccess || !h) {
      d.error = "cublasCreate failed (status " + std::to_string(s) + ")";
      return;
    }
    // The stream first: cublasSetStream resets a user workspace to cuBLAS's default pool.
    s = l.set_stream(h, st);
    if (s == kSuccess) s = l.set_math_mode(h, kDefaultMath | kDisallowReducedPrecisionReduction);
    if (s != kSuccess) {
      d.error = "cublasSetStream/SetMathMode failed (status " + std::to_string(s) + ")";
      l.destroy(h);
      return;
    }
    // Our own workspace from the caching allocator, held for the life of the process: cuBLAS then
    // allocates nothing itself while running (which a CUDA graph capture would not allow).
    // Sizes as PyTorch uses: 32 MiB on Hopper, 8 MiB before.
    if (l.set_workspace) {
      try {
        const size_t bytes = device_capability(device) >= 90 ? (size_t(32) << 20) : (size_t(8) << 20);
        void* ws = ie::cuda::malloc(bytes, device);
        if (l.set_workspace(h, ws, bytes) != kSuccess) {
          ie::cuda::free(ws, bytes, device);
        } else {
          d.ws = ws;
          d.ws_bytes = bytes;
        }
      } catch (const std::exception&) {
        // No workspace of ours: cuBLAS uses its default one.
      }
    }
    d.bound = st;
    d.h = h;
  });
  return d;
}

std::string status_name(const Lib& l, Status s) {
  const char* n = l.get_status_name ? l.get_status_name(s) : nullptr;
  return n ? std::string(n) : "status " + std::to_string(s);
}

bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

}  // namespace

bool available() { return lib().ok; }
std::string load_info() { return info_of(lib()); }

std::string probe() {
  try {
    return info_of(search());
  } catch (const std::exception& e) {
    return std::string("cuBLAS not found: ") + e.what();
  }
}

bool can_take(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
              int64_t ldc, int64_t strideC, int64_t batch) {
  if (dt != DType::F32 && dt != DType::F16 && dt != DType::BF16) return false;
  if (M < 1 || N < 1 || K < 1 || batch < 1) return false;  // K == 0 (C = beta·C) stays with ours
  if (!fits_int(M) || !fits_int(N) || !fits_int(K) || !fits_int(batch)) return false;
  if (!fits_int(lda) || !fits_int(ldb) || !fits_int(ldc)) return false;
  if (strideC == 0 && batch > 1) return false;  // a shared C is not a cuBLAS batch
  // Column-major view (see gemm below): cuBLAS's A is our B, its B is our A, its C is Cᵀ [N, M].
  // Leading-dimension rules: op N needs ld >= rows (m for A, k for B), op T the other dimension.
  if (ldb < (transB ? K : N)) return false;
  if (lda < (transA ? M : K)) return false;
  if (ldc < N) return false;
  return available();
}

bool gemm(DType dt, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const void* A,
          int64_t lda, int64_t strideA, const void* B, int64_t ldb, int64_t strideB, float beta, void* C,
          int64_t ldc, int64_t strideC, int64_t batch, bool c_f32, int device) {
  if (strideA < 0 || strideB < 0 || strideC < 0) return false;
  if (!can_take(dt, transA, transB, M, N, K, lda, ldb, ldc, strideC, batch)) return false;
  IE_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, " is not a valid device index");
  if (!handles()[device].tried) {
    // Creating the handle allocates (cuBLAS's own state, our workspace): not while the stream is
    // being captured into a CUDA graph. Until a call outside a capture creates it: ours.
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream(device), &cs) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    if (cs != cudaStreamCaptureStatusNone) return false;
  }
  DeviceHandle& d = device_handle(device);
  if (!d.h) return false;
  const Lib& l = lib();
  const cudaDataType in = dt == DType::F32 ? CUDA_R_32F : dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  const cudaDataType out = c_f32 ? CUDA_R_32F : in;
  // Row-major C[M,N] = op(A)[M,K]·op(B)[K,N] is column-major Cᵀ[N,M] = op(B)ᵀ[N,K]·op(A)ᵀ[K,M]. A
  // row-major matrix with leading dimension ld is, read column-major with the same ld, its
  // transpose; so B's storage is cuBLAS's A (op N when B is stored [K,N], op T when stored [N,K]),
  // A's storage is cuBLAS's B (op N when stored [M,K], op T when stored [K,M]), m = N, n = M.
  const Op op_first = transB ? kOpT : kOpN;
  const Op op_second = transA ? kOpT : kOpN;
  cudaStream_t st = stream(device);  // also makes the device current on this thread
  Status s;
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (d.bound != st) {  // another stream than last time (a graph capture, or back from one)
      s = l.set_stream(d.h, st);
      if (s == kSuccess && d.ws) s = l.set_workspace(d.h, d.ws, d.ws_bytes);
      if (s != kSuccess) fail("cuBLAS: binding the handle to the stream failed: ", status_name(l, s));
      d.bound = st;
    }
    s = l.gemm_sb(d.h, op_first, op_second, int(N), int(M), int(K), &alpha, B, in, int(ldb), (long long)strideB, A, in,
                  int(lda), (long long)strideA, &beta, C, out, int(ldc), (long long)strideC, int(batch), kCompute32F,
                  kGemmDefault);
  }
  if (s != kSuccess)
    fail("cuBLAS gemm failed: ", status_name(l, s), " (", dtype_name(dt), c_f32 ? "->float32" : "", " transA=", transA,
         " transB=", transB, " M=", M, " N=", N, " K=", K, " batch=", batch, ")");
  return true;
}

std::string handle_error(int device) {
  if (device < 0 || device >= kMaxDevices || !lib().ok) return "";
  // Look without creating: device_handle() would create the handle (and needs a GPU).
  const DeviceHandle* d = &handles()[device];
  if (!d->tried) return "";
  return d->h ? "" : d->error;
}

}  // namespace ie::cuda::cublas
