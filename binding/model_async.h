// What the model bindings share: a cancellation token JS can set while a pass runs, and promises
// settled once the device stream has run a model pass (the JS thread never waits for it).
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ie/params.h"
#include "ie/safetensors.h"
#include "ie/stream.h"
#include "promise_worker.h"

namespace ieb {

// Registers NativeCancelToken (new NativeCancelToken(); token.cancel()).
void register_cancel_token(Napi::Env env, Napi::Object exports);

// The flag behind argument i (a NativeCancelToken), or nullptr when it is null/undefined.
std::shared_ptr<std::atomic<bool>> cancel_token_arg(const Napi::CallbackInfo& info, size_t i, const char* op);

// A promise settled on the JS thread once the CPU stream has run everything enqueued so far:
// rejected with the error of a failed task, else resolved with make(env).
Napi::Value settle_after_stream(Napi::Env env, const char* name, std::function<Napi::Value(Napi::Env)> make);

// The native model behind a JS handle: use after dispose() is a clear error, and the model's memory
// is reported to V8 while the handle holds it (queued passes keep the model itself alive).
template <typename M>
class ModelRef {
 public:
  explicit ModelRef(const char* name) : name_(name) {}
  void adopt(Napi::Env env, std::shared_ptr<M> m) {
    m_ = std::move(m);
    report(env, int64_t(m_->flat_params().nbytes()));
  }
  M& get(const Napi::CallbackInfo& info, const char* what) const {
    if (!m_) throw Napi::Error::New(info.Env(), std::string(name_) + "." + what + ": the model has been disposed");
    return *m_;
  }
  void report(Napi::Env env, int64_t bytes) {
    reported_ += bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  }
  void release(Napi::Env env) {
    if (!m_) return;
    m_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -reported_);
    reported_ = 0;
  }

 private:
  const char* name_;
  std::shared_ptr<M> m_;
  int64_t reported_ = 0;
};

// {names, shapes, offsets} of a model's parameters (their layout in its flat buffer).
Napi::Value param_info_value(Napi::Env env, const std::vector<ie::ParamInfo>& ps);

// The arguments every model's load function takes: (configJson, configSource, weightsPath | null, ...,
// seed at `seed_index`).
struct LoadArgs {
  std::string config, source, weights;  // weights empty: random parameters
  int64_t seed = 0;
  ie::Device device;  // where the model lives (cpu unless the loader takes a device argument)
};
LoadArgs load_args(const Napi::CallbackInfo& info, const char* op, size_t seed_index);

// Builds a model on a libuv worker, then loads its weights (pread, not mmap: mapped pages would
// count in resident memory on top of the parameters they are copied into) or, without a weights
// path, fills it with seeded random values; resolves with the JS handle wrap() makes.
template <typename M>
class ModelLoadWorker : public PromiseWorker {
 public:
  using Create = std::function<std::shared_ptr<M>()>;
  using Load = std::function<void(M&, const ie::safetensors::Reader&)>;
  using Wrap = std::function<Napi::Object(Napi::Env, std::shared_ptr<M>)>;
  ModelLoadWorker(Napi::Env env, const char* name, LoadArgs args, Create create, Load load, Wrap wrap)
      : PromiseWorker(env, name), args_(std::move(args)), create_(std::move(create)), load_(std::move(load)),
        wrap_(std::move(wrap)) {}

 private:
  void Run() override {
    model_ = create_();
    if (args_.weights.empty()) {
      model_->init_random(uint64_t(args_.seed));
      ie::stream_for(args_.device).sync();
    } else {
      ie::safetensors::OpenOptions oo;
      oo.mmap = false;
      load_(*model_, ie::safetensors::Reader::open(args_.weights, oo));
    }
  }
  Napi::Value Result(Napi::Env env) override { return wrap_(env, std::move(model_)); }

  LoadArgs args_;
  Create create_;
  Load load_;
  Wrap wrap_;
  std::shared_ptr<M> model_;
};

}  // namespace ieb
