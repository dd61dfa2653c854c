// GEMM backends (native/src/cuda/cublas_loader.h): the run-time cuBLAS loader's error reporting
// (CPU only, runs everywhere), and on a GPU our kernels and cuBLAS forced in turn against the same
// float64 references, the auto choice cached per shape, and no measuring during CUDA graph capture.
//
// Without a GPU the GPU tests skip (iet::cuda_device_or_skip). Where cuBLAS is not found the
// cuBLAS-specific tests print "skipped: cuBLAS not found (...)" and return (the harness has no
// skip state of its own beyond cuda_device_or_skip, so they count as passed).
//
// Tolerances as tests/native/test_cuda_gemm.cc (relative error ||out - ref|| / ||ref||): float32
// 1e-5 (both paths use exact float32 FMAs: ours has no TF32, cuBLAS runs CUBLAS_COMPUTE_32F with
// the default math mode); float16 1e-2 and bfloat16 2e-2 against the reference from the rounded
// inputs (float32 accumulation, one rounding of the output; the cuBLAS path adds the bias in a
// second pass, one more rounding, well inside these).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "harness.h"

#if defined(IE_WITH_CUDA)
#include <cuda_runtime.h>

#include "cuda/cublas_loader.h"
#include "cuda/gemm.h"
#include "cuda_helpers.h"
#include "gemm_case.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/stream.h"
#include "ie/tensor.h"
#include "reference/gemm.h"

// The library's stream of a device (native/src/cuda/runtime.cu; declared in cuda/common.cuh, which
// is CUDA-only).
namespace ie::cuda {
cudaStream_t stream(int device);
}

using namespace iet::gpu;

namespace {

using ie::DType;
using ie::Shape;
using ie::Tensor;
using ie::cuda::GemmBackend;
using ie::cuda::GemmBias;

// Sets (value != nullptr) or unsets an environment variable for the scope, then restores it.
class EnvScope {
 public:
  EnvScope(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~EnvScope() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

bool has(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

const char* backend_name(GemmBackend b) {
  return b == GemmBackend::Ours ? "ours" : b == GemmBackend::Cublas ? "cublas" : "auto";
}

// Restores the process-wide backend mode at the end of a test.
struct ModeScope {
  GemmBackend saved = ie::cuda::gemm_backend();
  ~ModeScope() { ie::cuda::set_gemm_backend(saved); }
};

// cuBLAS-specific tests: false (with a message) where cuBLAS was not found.
bool cublas_or_skip() {
  if (ie::cuda::cublas::available()) return true;
  std::printf("  skipped: %s\n", ie::cuda::cublas::load_info().c_str());
  return false;
}

// ---- one cuda::gemm call against its float64 reference -----------------------------------------


// Runs p with the backend forced and checks C; also that the forced backend is the one that ran
// (cuBLAS takes every call with K > 0 here; K == 0 stays with ours by design).
void run_with(const Prepared& p, GemmBackend backend) {
  ie::cuda::set_gemm_backend(backend);
  const std::string what = describe(p.c, p.dt, backend_name(backend));
  Buffers b = buffers(p);
  ie::stream_for(kGpu).sync();
  const ie::cuda::GemmBackendStats before = ie::cuda::gemm_backend_stats(kGpu.index);
  enqueue_gemm(p, b);
  check_c(p, b.C, what);  // syncs
  const ie::cuda::GemmBackendStats after = ie::cuda::gemm_backend_stats(kGpu.index);
  const bool want_cublas = backend == GemmBackend::Cublas && p.c.K > 0;
  IE_EXPECT(after.cublas_calls - before.cublas_calls == (want_cublas ? 1 : 0),
            "cuBLAS calls counted " + std::to_string(after.cublas_calls - before.cublas_calls) + ": " + what);
  IE_EXPECT(after.ours_calls - before.ours_calls == (want_cublas ? 0 : 1),
            "ours calls counted " + std::to_string(after.ours_calls - before.ours_calls) + ": " + what);
}

std::vector<GemmCase> cases() {
  std::vector<GemmCase> cs = base_gemm_cases();
  for (bool tA : {false, true})
    for (bool tB : {false, true})
      cs.push_back({tA, tB, 45, 77, 130, 1.f, 0.5f, 1, 3, 2, GemmBias::PerRow});  // batch + bias + beta
  cs.push_back({false, false, 9, 11, 0, 1.f, 0.f});                                 // K == 0: ours
  cs.push_back({false, true, 9, 11, 0, 1.f, 0.5f, 0, 1, 0, GemmBias::PerColumn});   // K == 0: ours
  cs.push_back({false, false, 300, 520, 33, 1.f, 0.f, 0, 10});
  cs.push_back({true, true, 1100, 2000, 9, 1.f, 1.f, 1});
  cs.push_back({false, true, 1100, 2000, 9, 1.f, 0.f, 0, 1, 0, GemmBias::PerColumn});
  return cs;
}

// Runs the GEMM of p on buffers b captured into a CUDA graph, on the ie::Stream thread (as the ops
// launch): begin capture on the library's stream, cuda::gemm, end capture, launch the graph once,
// wait. Returns "" or what failed.
std::string run_captured(const Prepared& p, const Buffers& b) {
  auto err = std::make_shared<std::string>();
  const Prepared* pp = &p;  // the caller syncs before p goes away
  Buffers bb = b;
  ie::stream_for(kGpu).enqueue([pp, bb, err] {
    const GemmCase& c = pp->c;
    cudaStream_t st = ie::cuda::stream(kGpu.index);
    auto bad = [&](cudaError_t e, const char* what) {
      if (e == cudaSuccess) return false;
      *err = std::string(what) + ": " + cudaGetErrorString(e);
      cudaGetLastError();
      return true;
    };
    if (bad(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture")) return;
    try {
      ie::cuda::GemmEpilogue epi;
      epi.bias = c.bias == GemmBias::None ? nullptr : bb.bias.raw();
      epi.bias_mode = c.bias;
      epi.c_f32 = c.c_f32;
      ie::cuda::gemm(pp->dt, c.tA, c.tB, c.M, c.N, c.K, c.alpha, bb.A.raw(), pp->lda, pp->sA, bb.B.raw(), pp->ldb,
                     pp->sB, c.beta, bb.C.raw(), pp->ldc, pp->sC, c.batch, kGpu.index, epi);
    } catch (const std::exception& e) {
      *err = std::string("cuda::gemm while capturing: ") + e.what();
    }
    cudaGraph_t g = nullptr;
    cudaError_t e = cudaStreamEndCapture(st, &g);
    if (err->empty()) bad(e, "cudaStreamEndCapture");
    if (!err->empty() || !g) {
      if (g) cudaGraphDestroy(g);
      if (err->empty()) *err = "no graph captured";
      return;
    }
    cudaGraphExec_t ge = nullptr;
    if (!bad(cudaGraphInstantiate(&ge, g, 0), "cudaGraphInstantiate") && !bad(cudaGraphLaunch(ge, st), "cudaGraphLaunch"))
      bad(cudaStreamSynchronize(st), "cudaStreamSynchronize (graph)");
    if (ge) cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
  });
  ie::stream_for(kGpu).sync();
  return *err;
}

}  // namespace

// ---- CPU: the loader's error reporting (runs everywhere, also without a GPU) ---------------------

IE_TEST(cuda_gemm_backends, loader_reports_missing_library) {
  const char* missing = "/nonexistent/instructedit-test/libcublas.so.13";
  {
    EnvScope e("INSTRUCTEDIT_CUBLAS", missing);
    const std::string info = ie::cuda::cublas::probe();
    IE_EXPECT(has(info, "not found"), "INSTRUCTEDIT_CUBLAS=<missing file>: the info says 'not found': " + info);
    IE_EXPECT(has(info, missing), "INSTRUCTEDIT_CUBLAS=<missing file>: the info names the path: " + info);
  }
  {
    // A library that loads but is not cuBLAS (libm is in every process).
    EnvScope e("INSTRUCTEDIT_CUBLAS", "libm.so.6");
    const std::string info = ie::cuda::cublas::probe();
    IE_EXPECT(has(info, "not found") && has(info, "libm.so.6") && has(info, "does not export"),
              "INSTRUCTEDIT_CUBLAS=libm.so.6: says it is not cuBLAS: " + info);
  }
  {
    EnvScope e("INSTRUCTEDIT_CUBLAS", "none");
    const std::string info = ie::cuda::cublas::probe();
    IE_EXPECT(has(info, "not found") && has(info, "disabled"), "INSTRUCTEDIT_CUBLAS=none: disabled: " + info);
  }
  {
    // The plain search with directories that do not exist: found (a machine with cuBLAS on its
    // search path) or not found, never a crash.
    EnvScope e1("INSTRUCTEDIT_CUBLAS", nullptr);
    EnvScope e2("INSTRUCTEDIT_CUBLAS_DIRS", "/nonexistent/a::/nonexistent/b/");
    const std::string info = ie::cuda::cublas::probe();
    IE_EXPECT(has(info, "cuBLAS not found: ") || has(info, " loaded from "), "search info: " + info);
    std::printf("  search with INSTRUCTEDIT_CUBLAS_DIRS=/nonexistent/...: %s\n", info.c_str());
  }
  // The process-wide state (from the real environment): one line, whatever the machine has.
  const std::string info = ie::cuda::gemm_backend_info(0);
  IE_EXPECT(!info.empty(), "gemm_backend_info is not empty");
  IE_EXPECT(ie::cuda::cublas::available() ? has(info, "cublas ") && has(info, " loaded from ")
                                          : info.rfind("ours (cuBLAS not found: ", 0) == 0,
            "gemm_backend_info matches cublas::available(): " + info);
  std::printf("  gemm backend: %s\n", info.c_str());
}

// ---- GPU --------------------------------------------------------------------------------------------

IE_TEST(cuda_gemm_backends, ours_and_cublas_match_reference) {
  if (!iet::cuda_device_or_skip()) return;
  ModeScope mode;
  const bool cublas = ie::cuda::cublas::available();
  if (!cublas) std::printf("  cuBLAS half skipped: %s\n", ie::cuda::cublas::load_info().c_str());
  uint64_t seed = 7000;
  for (DType dt : kFloatTypes)
    for (const GemmCase& c : cases()) {
      const Prepared p = prepare(c, dt, seed += 10);
      run_with(p, GemmBackend::Ours);
      if (cublas) run_with(p, GemmBackend::Cublas);
    }
  // float32 C from float16/bfloat16 operands (conv2d's backward column buffer).
  for (DType dt : {DType::F16, DType::BF16})
    for (bool tA : {false, true})
      for (bool tB : {false, true}) {
        GemmCase c{tA, tB, 77, 45, 130, 1.f, 0.f};
        c.c_f32 = true;
        for (int v = 0; v < 2; ++v) {
          if (v == 1) {
            c.beta = 1.f;
            c.batch = 2;
            c.bias = GemmBias::PerRow;
          }
          const Prepared p = prepare(c, dt, seed += 10);
          run_with(p, GemmBackend::Ours);
          if (cublas) run_with(p, GemmBackend::Cublas);
        }
      }
}

IE_TEST(cuda_gemm_backends, auto_choice_is_measured_once_and_cached) {
  if (!iet::cuda_device_or_skip()) return;
  if (!cublas_or_skip()) return;
  ModeScope mode;
  ie::cuda::set_gemm_backend(GemmBackend::Auto);
  ie::stream_for(kGpu).sync();
  ie::cuda::gemm_backend_reset(kGpu.index);
  uint64_t seed = 8000;
  // beta == 0 with a bias (timed in C itself), beta != 0 (timed in a scratch copy: C must be read
  // exactly once, by the real call), and float32 C from bfloat16.
  GemmCase shapes[] = {
      {false, true, 256, 320, 192, 1.f, 0.f, 0, 1, 0, GemmBias::PerColumn},
      {true, false, 200, 96, 300, 0.5f, 1.f, 0, 2},
      {false, false, 64, 1024, 72, 1.f, 0.f, 0, 3, 0, GemmBias::PerRow, true},
  };
  int64_t expect_measured = 0;
  for (const GemmCase& c : shapes)
    for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
      if (c.c_f32 && dt == DType::F32) continue;
      ++expect_measured;
      for (int call = 0; call < 3; ++call) {
        const Prepared p = prepare(c, dt, seed += 10);
        Buffers b = buffers(p);
        enqueue_gemm(p, b);
        const std::string what = describe(c, dt, "auto") + " call " + std::to_string(call);
        check_c(p, b.C, what);
        const ie::cuda::GemmBackendStats s = ie::cuda::gemm_backend_stats(kGpu.index);
        IE_EXPECT(s.measurements == expect_measured,
                  "measured " + std::to_string(s.measurements) + " keys, want " + std::to_string(expect_measured) +
                      " (a second call of a key must use the cached choice): " + what);
        IE_EXPECT(s.cached == expect_measured, "cached " + std::to_string(s.cached) + " keys: " + what);
      }
    }
  const ie::cuda::GemmBackendStats s = ie::cuda::gemm_backend_stats(kGpu.index);
  std::printf("  auto: %lld keys measured, %lld chose cuBLAS; calls: ours %lld, cublas %lld\n",
              (long long)s.measurements, (long long)s.cached_cublas, (long long)s.ours_calls,
              (long long)s.cublas_calls);
  IE_EXPECT(s.ours_calls + s.cublas_calls == 3 * expect_measured, "every call counted once (measurement runs not)");
  const std::string info = ie::cuda::gemm_backend_info(kGpu.index);
  IE_EXPECT(has(info, "auto") && has(info, "shapes measured"), "info reports auto and the measured shapes: " + info);
  std::printf("  %s\n", info.c_str());
  ie::cuda::gemm_backend_reset(kGpu.index);
}

// Auto never measures while the stream is captured into a CUDA graph (events and a host sync are
// not allowed there): an unseen key runs ours and stays unmeasured. cuBLAS forced is captured too
// (its workspace is ours, so it allocates nothing while capturing).
IE_TEST(cuda_gemm_backends, no_measuring_during_graph_capture) {
  if (!iet::cuda_device_or_skip()) return;
  if (!cublas_or_skip()) return;
  ModeScope mode;
  ie::stream_for(kGpu).sync();
  ie::cuda::gemm_backend_reset(kGpu.index);
  uint64_t seed = 9000;
  {
    // cuBLAS's handle is created by the first uncaptured cuBLAS call (creating it allocates, which
    // a capture does not allow; captured calls before that run ours): make sure it exists.
    ie::cuda::set_gemm_backend(GemmBackend::Cublas);
    const GemmCase c{false, false, 16, 16, 16, 1.f, 0.f};
    const Prepared p = prepare(c, DType::F32, seed += 10);
    Buffers buf = buffers(p);
    enqueue_gemm(p, buf);
    check_c(p, buf.C, describe(c, DType::F32, "cublas") + " (before capturing)");
  }
  for (GemmBackend b : {GemmBackend::Auto, GemmBackend::Cublas}) {
    ie::cuda::set_gemm_backend(b);
    for (DType dt : {DType::F32, DType::F16}) {
      const GemmCase c{false, true, 96, 160, 64, 1.f, 0.f, 0, 2, 0, GemmBias::PerColumn};
      const Prepared p = prepare(c, dt, seed += 10);
      const std::string what = describe(c, dt, backend_name(b)) + " (graph capture)";
      Buffers buf = buffers(p);
      ie::stream_for(kGpu).sync();
      const ie::cuda::GemmBackendStats before = ie::cuda::gemm_backend_stats(kGpu.index);
      const std::string err = run_captured(p, buf);
      IE_EXPECT(err.empty(), err + ": " + what);
      if (err.empty()) check_c(p, buf.C, what);
      const ie::cuda::GemmBackendStats after = ie::cuda::gemm_backend_stats(kGpu.index);
      IE_EXPECT(after.measurements == before.measurements, "nothing measured while capturing: " + what);
      if (b == GemmBackend::Auto) {
        IE_EXPECT(after.ours_calls - before.ours_calls == 1, "an unmeasured key runs ours while capturing: " + what);
        // Uncaptured, the same key is measured now (and C still right).
        Buffers again = buffers(p);
        enqueue_gemm(p, again);
        check_c(p, again.C, what + " then uncaptured");
        IE_EXPECT(ie::cuda::gemm_backend_stats(kGpu.index).measurements == before.measurements + 1,
                  "measured once uncaptured: " + what);
      } else {
        IE_EXPECT(after.cublas_calls - before.cublas_calls == 1, "cuBLAS forced runs cuBLAS while capturing: " + what);
      }
    }
  }
  ie::cuda::gemm_backend_reset(kGpu.index);
}

#else  // built without CUDA

IE_TEST(cuda_gemm_backends, loader_reports_missing_library) {
  std::printf("  built without CUDA: no cuBLAS loader (ie::cuda::gemm does not exist)\n");
}

#endif
