#include "tensor_wrap.h"

#include <cstring>
#include <unordered_map>
#include <string>

#include "addon_data.h"
#include "convert.h"
#include "errors.h"
#include "ie/ops.h"

namespace ieb {

Napi::Function TensorWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceAccessor<&TensorWrap::Shape>("shape"),
                         InstanceAccessor<&TensorWrap::DType>("dtype"),
                         InstanceAccessor<&TensorWrap::Device>("device"),
                         InstanceAccessor<&TensorWrap::Disposed>("disposed"),
                         InstanceMethod<&TensorWrap::Dispose>("dispose"),
                         InstanceMethod<&TensorWrap::ToArrayBuffer>("toArrayBuffer"),
                         InstanceMethod<&TensorWrap::ToArrayBufferSync>("toArrayBufferSync"),
                         InstanceMethod<&TensorWrap::Reshape>("reshape"),
                         InstanceMethod<&TensorWrap::View>("view"),
                     });
}

Napi::Object TensorWrap::Wrap(Napi::Env env, ie::Tensor t) {
  auto* holder = new ie::Tensor(std::move(t));
  Napi::External<ie::Tensor> ext = Napi::External<ie::Tensor>::New(env, holder);
  return addon_data(env).tensor_ctor.New({ext});
}

bool TensorWrap::IsWrap(Napi::Env env, Napi::Value v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(addon_data(env).tensor_ctor.Value());
}

namespace {
// Handles per storage: V8 is told about a storage's bytes once, while at least one handle holds it
// (views share their base's storage). JS-thread only: constructors, dispose() and finalizers.
std::unordered_map<const ie::Storage*, int>& handle_counts() {
  static auto* m = new std::unordered_map<const ie::Storage*, int>();
  return *m;
}
}  // namespace

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "NativeTensor cannot be constructed from JS; use the instructedit API");
  ie::Tensor* holder = info[0].As<Napi::External<ie::Tensor>>().Data();
  t_ = std::move(*holder);
  delete holder;
  if (t_->storage() && handle_counts()[t_->storage().get()]++ == 0)
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), int64_t(t_->storage()->bytes()));
}

TensorWrap::~TensorWrap() {
  // Finalizer: the JS object was collected without dispose(). Adjusting V8's counter from here is
  // allowed (node-addon-api runs finalizers outside the GC pass in Node >= 18).
  Release(Env());
}

void TensorWrap::Release(Napi::Env env) {
  if (!t_) return;
  const ie::Storage* s = t_->storage().get();
  int64_t bytes = s ? int64_t(s->bytes()) : 0;
  t_.reset();
  if (!s) return;
  auto& counts = handle_counts();
  auto it = counts.find(s);
  if (it != counts.end() && --it->second == 0) {
    counts.erase(it);
    // Queued work may still hold the storage, but no JS handle does any more.
    Napi::MemoryManagement::AdjustExternalMemory(env, -bytes);
  }
}

static const ie::Tensor& live(const Napi::CallbackInfo& info, const std::optional<ie::Tensor>& t, const char* what) {
  if (!t) throw Napi::Error::New(info.Env(), std::string(what) + ": tensor has been disposed");
  return *t;
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  const ie::Tensor& t = live(info, t_, "shape");
  Napi::Array a = Napi::Array::New(info.Env(), t.shape().size());
  for (size_t i = 0; i < t.shape().size(); ++i) a[uint32_t(i)] = Napi::Number::New(info.Env(), double(t.shape()[i]));
  return a;
}

Napi::Value TensorWrap::DType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ie::dtype_name(live(info, t_, "dtype").dtype()));
}

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), live(info, t_, "device").device().str());
}

Napi::Value TensorWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !t_); }

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

namespace {
// State of one asynchronous read-back: the destination ArrayBuffer (kept alive by a reference) and
// the promise, resolved on the JS thread when the stream has copied the data.
struct ReadBack {
  Napi::Promise::Deferred deferred;
  Napi::Reference<Napi::ArrayBuffer> buffer;
  std::string error;
  bool failed = false;
};
void finish_read_back(Napi::Env env, Napi::Function, ReadBack* rb, void*) {
  if (env) {
    Napi::HandleScope scope(env);
    if (rb->failed) rb->deferred.Reject(Napi::Error::New(env, rb->error).Value());
    else rb->deferred.Resolve(rb->buffer.Value());
  }
  delete rb;
}
using ReadBackTsfn = Napi::TypedThreadSafeFunction<ReadBack, void, finish_read_back>;
}  // namespace

Napi::Value TensorWrap::ToArrayBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ie::Tensor& t = live(info, t_, "toArray");
  auto* rb = new ReadBack{Napi::Promise::Deferred::New(env), {}, {}, false};
  Napi::Promise promise = rb->deferred.Promise();
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, t.nbytes());
  rb->buffer = Napi::Persistent(buf);
  // The TSFN keeps the event loop alive until the copy has been delivered.
  ReadBackTsfn tsfn = ReadBackTsfn::New(env, "instructedit.toArray", 0, 1, rb);
  void* dst = buf.Data();
  try {
    ie::ops::copy_to_host_async(t, dst, [tsfn, rb](const char* err) mutable {
      if (err) {
        rb->failed = true;
        rb->error = err;
      }
      tsfn.BlockingCall();
      tsfn.Release();
    });
  } catch (const std::exception& e) {
    // Nothing was enqueued: settle the promise here and drop the state.
    rb->deferred.Reject(Napi::Error::New(env, e.what()).Value());
    tsfn.Release();
    delete rb;
  }
  return promise;
}

Napi::Value TensorWrap::ToArrayBufferSync(const Napi::CallbackInfo& info) {
  const ie::Tensor& t = live(info, t_, "toArraySync");
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(info.Env(), t.nbytes());
  guard(info.Env(), [&] { ie::ops::copy_to_host(t, buf.Data()); });
  return buf;
}

Napi::Value TensorWrap::Reshape(const Napi::CallbackInfo& info) {
  const ie::Tensor& t = live(info, t_, "reshape");
  ie::Shape s = shape_arg(info, 0, "reshape", "shape");
  return guard(info.Env(), [&] { return Wrap(info.Env(), t.reshape(s)); });
}

Napi::Value TensorWrap::View(const Napi::CallbackInfo& info) {
  const ie::Tensor& t = live(info, t_, "view");
  int64_t offset = int_arg(info, 0, "view", "offset");
  ie::Shape s = shape_arg(info, 1, "view", "shape");
  return guard(info.Env(), [&] { return Wrap(info.Env(), t.view(offset, s)); });
}

}  // namespace ieb
