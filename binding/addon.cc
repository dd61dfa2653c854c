// Module entry: the NativeTensor class, the ops, and runtime controls (backends, threads, CPU path).
#include <napi.h>

#include <cstdlib>
#include <string>

#include "addon_data.h"
#include "clip.h"
#include "convert.h"
#include "errors.h"
#include "cpu/peak.h"
#include "ie/allocator.h"
#include "ie/cpu_features.h"
#include "ie/cuda.h"
#include "ie/parallel.h"
#include "ie/stream.h"
#include "io.h"
#include "model_async.h"
#include "scheduler.h"
#include "unet.h"
#include "vae.h"
#include "ops_binding.h"
#if defined(IE_WITH_CUDA)
#include "cuda/cublas_loader.h"  // gemm_backend_info (plain C++)
#endif
#include "tensor_wrap.h"

namespace ieb {
namespace {

// backends(): what this build can run on, e.g. { cpu: true, cuda: false, cudaBuilt: true, ... }
Napi::Value Backends(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("cpu", true);
  o.Set("cpuPath", ie::cpu_path_name(ie::cpu_path()));
  o.Set("cpuPathDetected", ie::cpu_path_name(ie::cpu_path_detected()));
  o.Set("cudaBuilt", ie::cuda::built());
  int n = ie::cuda::device_count();
  o.Set("cuda", n > 0);
  o.Set("cudaDevices", n);
  o.Set("cudaArchs", ie::cuda::built_archs());
  Napi::Array names = Napi::Array::New(env, size_t(n));
  for (int i = 0; i < n; ++i) names.Set(uint32_t(i), ie::cuda::device_name(i));
  o.Set("cudaDeviceNames", names);
  // GEMM backend on cuda:0, e.g. "cublas 13.0.2 loaded from <path>; auto" or "ours (cuBLAS not
  // found: ...)". Only with a device: looking loads cuBLAS (hundreds of MB) when it is present.
#if defined(IE_WITH_CUDA)
  o.Set("gemm", n > 0 ? ie::cuda::gemm_backend_info(0) : std::string("ours (no CUDA device)"));
#else
  o.Set("gemm", "ours (built without CUDA)");
#endif
  return o;
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ie::num_threads()); }

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 0, "setNumThreads", "threads");
  if (n < 0 || n > 1024) throw Napi::RangeError::New(info.Env(), "setNumThreads: threads must be in [0, 1024] (0 = all cores)");
  // Let queued CPU work finish first so a kernel never sees the pool change under it.
  guard(info.Env(), [&] { ie::stream_for(ie::Device{}).sync(); });
  ie::set_num_threads(int(n));
  return info.Env().Undefined();
}

Napi::Value SetCpuPath(const Napi::CallbackInfo& info) {
  std::string name = string_arg(info, 0, "setCpuPath", "path");
  ie::CpuPath p;
  if (!ie::cpu_path_from_name(name.c_str(), &p))
    throw Napi::TypeError::New(info.Env(), "setCpuPath: unknown path '" + name + "' (expected generic, avx2 or avx512)");
  guard(info.Env(), [&] {
    ie::stream_for(ie::Device{}).sync();
    ie::set_cpu_path(p);
  });
  return info.Env().Undefined();
}

// sync(device): blocks until queued work is done; rethrows a failed kernel's error.
Napi::Value Sync(const Napi::CallbackInfo& info) {
  ie::Device d = device_arg(info, 0, "sync");
  guard(info.Env(), [&] { ie::stream_for(d).sync(); });
  return info.Env().Undefined();
}

// fmaPeakGflops(threads, seconds): this machine's measured FP32 FMA peak on the active CPU path
// (benchmarks report fractions of it). Blocks for `seconds`: a benchmark-only call.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  int64_t threads = int_arg(info, 0, "fmaPeakGflops", "threads");
  double seconds = number_arg(info, 1, "fmaPeakGflops", "seconds");
  if (threads < 1 || threads > 1024 || seconds <= 0 || seconds > 60)
    throw Napi::RangeError::New(info.Env(), "fmaPeakGflops: threads must be in [1, 1024] and seconds in (0, 60]");
  return Napi::Number::New(info.Env(), ie::cpu::fma_peak_gflops(int(threads), seconds));
}

// memoryStats(device?): tensor memory of a device in bytes { inUse, cached, peakInUse }.
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  ie::Device d;
  if (info.Length() > 0 && !info[0].IsUndefined()) d = ieb::device_arg(info, 0, "memoryStats");
  ie::CpuAllocStats s;
  if (d.is_cpu()) {
    s = ie::cpu_alloc_stats();
  } else {
    ie::cuda::AllocStats c = ie::cuda::alloc_stats(d.index);
    s = {c.in_use, c.cached, c.peak_in_use};
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("inUse", double(s.in_use));
  o.Set("cached", double(s.cached));
  o.Set("peakInUse", double(s.peak_in_use));
  return o;
}

// externalMemory(): V8's count of external memory (what tensors reported), for tests.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  ie::Device d;
  if (info.Length() > 0 && !info[0].IsUndefined()) d = ieb::device_arg(info, 0, "emptyCache");
  if (d.is_cpu()) ie::cpu_empty_cache();
  else ie::cuda::empty_cache(d.index);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function ctor = TensorWrap::Define(env);
  data->tensor_ctor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
  exports.Set("backends", Napi::Function::New(env, Backends, "backends"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetThreads, "getNumThreads"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetThreads, "setNumThreads"));
  exports.Set("setCpuPath", Napi::Function::New(env, SetCpuPath, "setCpuPath"));
  exports.Set("sync", Napi::Function::New(env, Sync, "sync"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStats, "memoryStats"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  exports.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
  exports.Set("fmaPeakGflops", Napi::Function::New(env, FmaPeak, "fmaPeakGflops"));
  register_ops(env, exports);
  register_io(env, exports);
  register_cancel_token(env, exports);
  register_unet(env, exports);
  register_vae(env, exports);
  register_scheduler(env, exports);
  register_clip(env, exports);
  return exports;
}

}  // namespace
}  // namespace ieb

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return ieb::Init(env, exports); }

NODE_API_MODULE(instructedit, InitAddon)
