#include "models/common/params.h"

#include <algorithm>
#include <cmath>

#include "ie/allocator.h"
#include "ie/cuda.h"
#include "ie/device_memory.h"
#include "ie/error.h"
#include "ie/ops.h"
#include "ie/stream.h"

namespace ie::nn {

int ParamTable::add(const std::string& name, const Shape& shape) {
  infos.push_back(ParamInfo{name, shape, total});
  int64_t n = shape_numel(shape);
  total += (n + 15) / 16 * 16;  // keep every parameter 64-byte aligned for the SIMD kernels
  return int(infos.size()) - 1;
}

void ParamStore::allocate(Device device) {
  index.clear();
  for (size_t i = 0; i < table.infos.size(); ++i) index[table.infos[i].name] = int(i);
  flat = Tensor::empty({table.total}, DType::F32, device);
  // Zero the alignment gaps between parameters, so whole-buffer kernels (AdamW, EMA, norms) never
  // meet uninitialised values there.
  if (!device.is_cpu()) {
    memory_zero(flat.raw(), flat.nbytes(), device);  // gaps included; init or load fills the rest
  } else {
    float* f = flat.data<float>();
    for (size_t i = 0; i < table.infos.size(); ++i) {
      int64_t end = table.infos[i].offset + shape_numel(table.infos[i].shape);
      int64_t next = i + 1 < table.infos.size() ? table.infos[i + 1].offset : table.total;
      std::fill(f + end, f + next, 0.f);
    }
  }
  views.clear();
  for (const ParamInfo& p : table.infos) views.push_back(flat.view(p.offset, p.shape));
}

int64_t ParamStore::num_params() const {
  int64_t n = 0;
  for (const ParamInfo& p : table.infos) n += shape_numel(p.shape);
  return n;
}

int ParamStore::find(const std::string& name) const {
  auto it = index.find(name);
  return it == index.end() ? -1 : it->second;
}

void init_random(const ParamStore& store, uint64_t seed, Device device,
                 const std::function<bool(const std::string&)>& is_embedding) {
  // One stream task: the ops inside run inline, so each temporary is freed before the next is made.
  // It holds copies of the layout and the views (shared storage), so disposing the model meanwhile
  // is safe.
  std::vector<ParamInfo> infos = store.table.infos;
  std::vector<Tensor> views = store.views;
  std::function<bool(const std::string&)> emb = is_embedding;
  stream_for(device).enqueue([infos, views, seed, device, emb] {
    for (size_t i = 0; i < infos.size(); ++i) {
      const ParamInfo& p = infos[i];
      const std::string& n = p.name;
      bool bias = n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
      bool norm = !bias && p.shape.size() == 1;  // 1-D weights are norm scales
      bool embedding = emb && emb(n);
      int64_t fan_in = p.shape.size() >= 2 ? shape_numel(p.shape) / p.shape[0] : 1;
      float std = embedding ? 0.2f : bias ? 0.05f : norm ? 0.1f : float(1.0 / std::sqrt(double(fan_in)));
      Tensor r = ops::randn(p.shape, seed, uint64_t(p.offset), norm && !embedding ? 1.f : 0.f, std, DType::F32, device);
      ops::assign(views[i], r, false);
    }
  });
}

namespace {
std::string list(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < 12; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > 12) s += ", ... (" + std::to_string(v.size() - 12) + " more)";
  return s;
}
}  // namespace

void load(ParamStore& store, const safetensors::Reader& reader, const LoadSpec& spec, Device device) {
  const std::vector<ParamInfo>& infos = store.table.infos;
  std::vector<const safetensors::TensorInfo*> source(infos.size(), nullptr);
  std::vector<bool> custom(infos.size(), false);
  std::vector<std::string> missing, wrong, unexpected, duplicate;
  for (const safetensors::TensorInfo& t : reader.tensors()) {
    std::string name = spec.rename ? spec.rename(t.name) : t.name;
    if (name.empty()) continue;  // a buffer the model does not keep
    int i = store.find(name);
    if (i < 0) {
      unexpected.push_back(t.name);
      continue;
    }
    if (source[size_t(i)]) {
      duplicate.push_back(source[size_t(i)]->name + " and " + t.name);
      continue;
    }
    source[size_t(i)] = &t;
  }
  for (size_t i = 0; i < infos.size(); ++i) {
    const ParamInfo& p = infos[i];
    const safetensors::TensorInfo* t = source[i];
    if (!t) {
      missing.push_back(p.name);
      continue;
    }
    if (!safetensors::file_dtype_is_float(t->dtype)) {
      wrong.push_back(t->name + " (dtype " + safetensors::file_dtype_name(t->dtype) + ", expected a float type)");
      continue;
    }
    if (t->shape == p.shape) continue;
    if (spec.accept_shape && spec.fill && spec.accept_shape(p, *t)) {
      custom[i] = true;
      continue;
    }
    wrong.push_back(t->name + " (file " + shape_str(t->shape) + ", model " + shape_str(p.shape) + ")");
  }
  if (!missing.empty() || !wrong.empty() || !unexpected.empty() || !duplicate.empty()) {
    std::string msg = spec.model + ": the weights in " + reader.path() + " do not match the config:";
    if (!missing.empty()) msg += "\n  missing (" + std::to_string(missing.size()) + "): " + list(missing);
    if (!wrong.empty()) msg += "\n  wrong shape or dtype (" + std::to_string(wrong.size()) + "): " + list(wrong);
    if (!unexpected.empty())
      msg += "\n  unexpected (" + std::to_string(unexpected.size()) + "): " + list(unexpected);
    if (!duplicate.empty())
      msg += "\n  stored twice under different names (" + std::to_string(duplicate.size()) + "): " + list(duplicate);
    if (!wrong.empty() && spec.mismatch_hint) msg += spec.mismatch_hint();
    fail(msg);
  }
  // Through host memory: each tensor is decoded to float32 on the CPU (custom fills write host
  // memory), then copied into its view, on the GPU with one copy per parameter.
  const Device cpu{};
  std::vector<float> staging;
  for (size_t i = 0; i < infos.size(); ++i) {
    Tensor src = reader.load(source[i]->name, DType::F32, cpu);
    const Tensor& view = store.views[i];
    if (device.is_cpu()) {
      float* dst = view.data<float>();
      if (custom[i]) {
        stream_for(cpu).sync();
        spec.fill(infos[i], src, dst);
      } else {
        ops::copy_to_host(src, dst);
      }
      continue;
    }
    stream_for(cpu).sync();
    const float* host = src.data<float>();
    if (custom[i]) {
      staging.assign(size_t(view.numel()), 0.f);
      spec.fill(infos[i], src, staging.data());
      host = staging.data();
    }
    cuda::copy_h2d(view.raw(), host, view.nbytes(), device.index);
  }
  // The per-tensor staging buffers went to the allocator's cache (up to the model's size): give
  // them back so a loaded model costs its parameters, not twice that.
  stream_for(device).sync();
  cpu_empty_cache();
}

bool ParamStore::ensure_grads(Tensor& grads, std::vector<Tensor>& views, Device device) const {
  if (grads.defined()) return false;
  grads = Tensor::empty({table.total}, DType::F32, device);
  views.clear();
  for (const ParamInfo& p : table.infos) views.push_back(grads.view(p.offset, p.shape));
  return true;
}

}  // namespace ie::nn
