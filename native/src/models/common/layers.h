// Building blocks shared by the models (UNet, VAE, CLIP text encoder), forward and backward side by
// side (llm.c style), over the ops API.
//
// A layer holds parameter indices into its model's flat buffers (Ctx maps them to tensor views).
// forward(ctx, ...) computes; backward(ctx, ...) writes parameter gradients straight into the flat
// gradient buffer (GradInto) and returns the input gradient.
#pragma once
#include <atomic>
#include <string>
#include <vector>

#include "ie/ops.h"
#include "models/common/params.h"

namespace ie::nn {

struct Ctx {
  const std::vector<Tensor>* values = nullptr;  // parameter views
  const std::vector<Tensor>* grads = nullptr;   // gradient views (backward only)
  bool save = false;                            // keep activations for backward
  bool checkpoint = false;                      // blocks keep only their inputs and recompute
  bool accumulate = false;                      // backward adds to the gradient buffer
  std::atomic<bool>* cancel = nullptr;

  const Tensor& P(int i) const { return (*values)[size_t(i)]; }
  const Tensor* Popt(int i) const { return i >= 0 ? &(*values)[size_t(i)] : nullptr; }
  ops::GradInto into(int w, int b) const;
  // Checkpointing: run a block without keeping anything, and later rerun it keeping everything.
  Ctx without_saving() const {
    Ctx c = *this;
    c.save = false;
    return c;
  }
  Ctx recomputing() const {
    Ctx c = *this;
    c.save = true;
    c.checkpoint = false;
    return c;
  }
  const char* model = "model";                  // names the model in errors
  void check_cancel() const;
};

// Sums gradients flowing into one tensor from several consumers.
void accumulate_into(Tensor& acc, const Tensor& g);

struct Linear {
  int w = -1, b = -1;
  void init(ParamTable& t, const std::string& name, int64_t in, int64_t out, bool bias);
  Tensor forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const Tensor& dy) const;  // -> dx
};

struct Conv2d {
  int w = -1, b = -1;
  ops::Conv2dParams p;
  void init(ParamTable& t, const std::string& name, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad);
  Tensor forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const Tensor& dy) const;  // -> dx
};

struct GroupNorm {
  int w = -1, b = -1;
  int64_t groups = 32;
  double eps = 1e-5;
  bool silu = false;  // fused SiLU after the affine
  void init(ParamTable& t, const std::string& name, int64_t C, int64_t groups, double eps, bool silu);
  ops::NormOut forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const ops::NormOut& saved, const Tensor& dy) const;
};

struct LayerNorm {
  int w = -1, b = -1;
  double eps = 1e-5;
  void init(ParamTable& t, const std::string& name, int64_t C, double eps);
  ops::NormOut forward(const Ctx& c, const Tensor& x) const;
  Tensor backward(const Ctx& c, const Tensor& x, const ops::NormOut& saved, const Tensor& dy) const;
};

int64_t bytes_of(const Tensor& t);

}  // namespace ie::nn
