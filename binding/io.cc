// Checkpoint I/O for JS: safetensors load / header / save as promises. The file work (parsing,
// conversion, writing, fsync) runs on a libuv worker thread (Napi::AsyncWorker) so the event loop
// keeps running; JS handles for loaded tensors are made on the JS thread when the promise settles.
// Results that carry names from a file come back as parallel arrays: the TypeScript side builds
// the records (a tensor named "__proto__" must not become a prototype).
#include "io.h"

#include <map>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "convert.h"
#include "promise_worker.h"
#include "ie/error.h"
#include "ie/safetensors.h"
#include "tensor_wrap.h"

namespace ieb {
namespace {

namespace st = ie::safetensors;
using CI = Napi::CallbackInfo;

std::vector<std::string> string_list_arg(const CI& info, size_t i, const char* op, const char* name) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsArray()) type_error(env, std::string(op) + ": " + name + " must be an array of strings");
  Napi::Array a = info[i].As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value v = a[k];
    if (!v.IsString()) type_error(env, std::string(op) + ": " + name + "[" + std::to_string(k) + "] must be a string");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

Napi::Array string_array(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a[uint32_t(i)] = Napi::String::New(env, v[i]);
  return a;
}

class LoadWorker : public PromiseWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, ie::DType float_dtype, ie::Device device, bool all,
             std::vector<std::string> names)
      : PromiseWorker(env, "instructedit.loadSafetensors"),
        path_(std::move(path)), float_dtype_(float_dtype), device_(device), all_(all), names_(std::move(names)) {}

 private:
  void Run() override {
    st::Reader r = st::Reader::open(path_);
    if (all_) {
      for (const st::TensorInfo& t : r.tensors()) names_.push_back(t.name);
    } else {
      // Fail before loading anything: load() reports a missing name (with the closest match).
      for (const std::string& n : names_)
        if (!r.find(n)) r.load(n);
    }
    tensors_.reserve(names_.size());
    for (const std::string& n : names_) tensors_.push_back(r.load(n, float_dtype_, device_));
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Array handles = Napi::Array::New(env, tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) handles[uint32_t(i)] = TensorWrap::Wrap(env, std::move(tensors_[i]));
    tensors_.clear();
    Napi::Object o = Napi::Object::New(env);
    o.Set("names", string_array(env, names_));
    o.Set("tensors", handles);
    return o;
  }

  std::string path_;
  ie::DType float_dtype_;
  ie::Device device_;
  bool all_;
  std::vector<std::string> names_;
  std::vector<ie::Tensor> tensors_;
};

class HeaderWorker : public PromiseWorker {
 public:
  HeaderWorker(Napi::Env env, std::string path) : PromiseWorker(env, "instructedit.readSafetensorsHeader"), path_(std::move(path)) {}

 private:
  void Run() override {
    st::Reader r = st::Reader::open(path_);
    tensors_ = r.tensors();
    metadata_ = r.metadata();
  }
  Napi::Value Result(Napi::Env env) override {
    std::vector<std::string> names, dtypes, keys, values;
    Napi::Array shapes = Napi::Array::New(env, tensors_.size());
    for (size_t i = 0; i < tensors_.size(); ++i) {
      names.push_back(tensors_[i].name);
      dtypes.push_back(st::file_dtype_name(tensors_[i].dtype));
      Napi::Array s = Napi::Array::New(env, tensors_[i].shape.size());
      for (size_t d = 0; d < tensors_[i].shape.size(); ++d) s[uint32_t(d)] = double(tensors_[i].shape[d]);
      shapes[uint32_t(i)] = s;
    }
    for (const auto& [k, v] : metadata_) {
      keys.push_back(k);
      values.push_back(v);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("names", string_array(env, names));
    o.Set("dtypes", string_array(env, dtypes));
    o.Set("shapes", shapes);
    o.Set("metadataKeys", string_array(env, keys));
    o.Set("metadataValues", string_array(env, values));
    return o;
  }

  std::string path_;
  std::vector<st::TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

class SaveWorker : public PromiseWorker {
 public:
  SaveWorker(Napi::Env env, std::string path, std::vector<std::pair<std::string, ie::Tensor>> tensors,
             std::map<std::string, std::string> metadata)
      : PromiseWorker(env, "instructedit.saveSafetensors"),
        path_(std::move(path)), tensors_(std::move(tensors)), metadata_(std::move(metadata)) {}

 private:
  // The worker holds its own references, so disposing the JS tensors meanwhile is safe.
  void Run() override { st::save(path_, tensors_, metadata_); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

  std::string path_;
  std::vector<std::pair<std::string, ie::Tensor>> tensors_;
  std::map<std::string, std::string> metadata_;
};

// loadSafetensors(path, floatDtype, device, names | null) -> Promise<{names, tensors}>
Napi::Value LoadSafetensors(const CI& info) {
  const char* op = "loadSafetensors";
  std::string path = string_arg(info, 0, op, "path");
  ie::DType dt = dtype_arg(info, 1, op);
  ie::Device dev = device_arg(info, 2, op);
  bool all = info.Length() < 4 || info[3].IsNull() || info[3].IsUndefined();
  std::vector<std::string> names = all ? std::vector<std::string>() : string_list_arg(info, 3, op, "names");
  return (new LoadWorker(info.Env(), std::move(path), dt, dev, all, std::move(names)))->Start();
}

// readSafetensorsHeader(path) -> Promise<{names, dtypes, shapes, metadataKeys, metadataValues}>
Napi::Value ReadSafetensorsHeader(const CI& info) {
  std::string path = string_arg(info, 0, "readSafetensorsHeader", "path");
  return (new HeaderWorker(info.Env(), std::move(path)))->Start();
}

// saveSafetensors(path, names, tensors, metadataKeys, metadataValues) -> Promise<void>
Napi::Value SaveSafetensors(const CI& info) {
  const char* op = "saveSafetensors";
  std::string path = string_arg(info, 0, op, "path");
  std::vector<std::string> names = string_list_arg(info, 1, op, "names");
  std::vector<ie::Tensor> ts = tensor_list_arg(info, 2, op, "tensors");
  std::vector<std::string> keys = string_list_arg(info, 3, op, "metadata keys");
  std::vector<std::string> values = string_list_arg(info, 4, op, "metadata values");
  if (names.size() != ts.size() || keys.size() != values.size())
    type_error(info.Env(), std::string(op) + ": names/tensors and metadata keys/values must have equal lengths");
  std::vector<std::pair<std::string, ie::Tensor>> tensors;
  for (size_t i = 0; i < ts.size(); ++i) tensors.emplace_back(std::move(names[i]), std::move(ts[i]));
  std::map<std::string, std::string> metadata;
  for (size_t i = 0; i < keys.size(); ++i) metadata[keys[i]] = values[i];
  return (new SaveWorker(info.Env(), std::move(path), std::move(tensors), std::move(metadata)))->Start();
}

}  // namespace

void register_io(Napi::Env env, Napi::Object exports) {
  exports.Set("loadSafetensors", Napi::Function::New(env, LoadSafetensors, "loadSafetensors"));
  exports.Set("readSafetensorsHeader", Napi::Function::New(env, ReadSafetensorsHeader, "readSafetensorsHeader"));
  exports.Set("saveSafetensors", Napi::Function::New(env, SaveSafetensors, "saveSafetensors"));
}

}  // namespace ieb
