// Tensor-level ops: the library's public C++ API (the binding wraps these one-to-one).
//
// Every op validates its arguments at once (dtype, device, rank, shapes, option values) and throws
// ie::Error naming the op, the argument, what it got and what it expected; then it allocates the
// outputs and enqueues the kernel on the device's Stream. Backward ops take the forward's inputs
// (and saved outputs) and return the gradients; they do not keep a graph (models do that).
// Dtypes: on the CPU ops compute in float32 (float16/bfloat16 tensors are converted with cast()).
// On CUDA the float ops also take float16 and bfloat16: every float input of one op has the same
// dtype, outputs and input gradients take it, arithmetic accumulates in float32; saved statistics
// (mean, rstd, lse) and parameter gradients (dw, db, dgamma, dbeta — returned or written through
// GradInto) are float32, as in mixed-precision training. Optimizer, loss and scheduler ops work on
// float32 buffers.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "ie/step_coeffs.h"
#include "ie/tensor.h"

namespace ie::ops {

// ---- creation and data movement ----
Tensor zeros(const Shape& shape, DType dtype, Device device);
Tensor full(const Shape& shape, double value, DType dtype, Device device);
// Counter-based: element i is a function of (seed, offset + i) only (any thread count, any device).
Tensor randn(const Shape& shape, uint64_t seed, uint64_t offset, float mean, float std, DType dtype, Device device);
Tensor rand(const Shape& shape, uint64_t seed, uint64_t offset, float lo, float hi, DType dtype, Device device);
// Copies `bytes` of host data now (the caller's buffer may be reused when this returns).
Tensor from_host(const void* data, size_t bytes, const Shape& shape, DType dtype, Device device);
// Enqueues a copy of t into dst (nbytes() bytes); done(error) runs on the stream's thread after it.
void copy_to_host_async(const Tensor& t, void* dst, std::function<void(const char* error)> done);
// Blocking read-back (tests, small tensors).
void copy_to_host(const Tensor& t, void* dst);
Tensor cast(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);
Tensor clone(const Tensor& x);

// Where a backward op writes the gradients of its parameters (weight, bias): by default into new
// tensors; with GradInto, into the given ones (views of a model's flat gradient buffer), added to
// their contents when `accumulate`. Shapes must match the parameters exactly.
struct GradInto {
  Tensor dw, db;
  bool accumulate = false;
};

// ---- linear algebra ----
// matmul, linear and conv2d (forward and backward): dtypes as above; float16/bfloat16 products run
// on tensor cores with float32 accumulation; float32 CUDA GEMMs are exact float32 (no TF32).
// matmul_backward's da/db are input gradients (the inputs' dtype).
// a[..., M, K] · b[..., K, N] (transA/transB transpose the last two dims); batch dims must match or
// one side may be 2-D (shared).
Tensor matmul(const Tensor& a, const Tensor& b, bool transA, bool transB);
struct MatmulGrads { Tensor da, db; };
MatmulGrads matmul_backward(const Tensor& a, const Tensor& b, const Tensor& dy, bool transA, bool transB);
// x[..., K] · w[N, K]ᵀ + bias[N]
Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias);
struct LinearGrads { Tensor dx, dw, db; };
LinearGrads linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, bool has_bias,
                            const GradInto* into = nullptr);

// ---- convolution ----
// NCHW; dtypes as for linear above (one dtype per op on CUDA).
struct Conv2dParams { int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0; };
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p);
struct Conv2dGrads { Tensor dx, dw, db; };
Conv2dGrads conv2d_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool has_bias, const Conv2dParams& p,
                            const GradInto* into = nullptr);

// ---- normalisation ----
struct NormOut { Tensor y, mean, rstd; };
struct NormGrads { Tensor dx, dgamma, dbeta; };
// x[N, C, ...spatial]
NormOut group_norm(const Tensor& x, int64_t groups, const Tensor* gamma, const Tensor* beta, double eps, bool silu);
NormGrads group_norm_backward(const Tensor& dy, const Tensor& x, int64_t groups, const Tensor* gamma,
                              const Tensor* beta, const Tensor& mean, const Tensor& rstd, bool silu,
                              const GradInto* into = nullptr);
// over the last axis
NormOut layer_norm(const Tensor& x, const Tensor* gamma, const Tensor* beta, double eps);
NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor* gamma, const Tensor* beta,
                              const Tensor& mean, const Tensor& rstd, const GradInto* into = nullptr);

// ---- activations ----
enum class Act : int { SiLU = 0, GELU = 1, GELUTanh = 2, QuickGELU = 3 };
Tensor activation(Act kind, const Tensor& x);
Tensor activation_backward(Act kind, const Tensor& x, const Tensor& dy);
Tensor geglu(const Tensor& x);  // last axis 2D -> D
Tensor geglu_backward(const Tensor& x, const Tensor& dy);
Tensor softmax(const Tensor& x);  // last axis
Tensor softmax_backward(const Tensor& y, const Tensor& dy);

// ---- attention ----
struct AttentionOut { Tensor out, lse; };
struct AttentionGrads { Tensor dq, dk, dv; };
// q[B, Lq, H·D], k/v[B, Lk, H·D]; scale <= 0 means 1/√D.
AttentionOut attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, double scale, bool causal);
AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& dout, int64_t heads, double scale, bool causal);

// ---- resampling and embeddings ----
// x[N, C, H, W] -> [N, C, OH, OW]
Tensor upsample_nearest(const Tensor& x, int64_t out_h, int64_t out_w);
Tensor upsample_nearest_backward(const Tensor& dy, int64_t in_h, int64_t in_w);
// t[N] -> [N, dim]
Tensor timestep_embedding(const Tensor& t, int64_t dim, bool flip_sin_to_cos, double freq_shift, double max_period);

// ---- elementwise and reductions ----
enum class Binary : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };
Tensor binary(Binary op, const Tensor& a, const Tensor& b);  // NumPy broadcasting
struct BinaryGrads { Tensor da, db; };
BinaryGrads binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& dy);
Tensor affine(const Tensor& x, double alpha, double beta);  // alpha·x + beta
// Sum (or mean) over `axes` (empty = all); keepdim keeps them as size 1.
Tensor reduce(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, bool mean);
Tensor reduce_backward(const Tensor& dy, const Shape& x_shape, const std::vector<int64_t>& axes, bool keepdim,
                       bool mean);
// dst = src (or dst += src with accumulate): element counts must match, both contiguous. For writing
// into views, e.g. of a flat gradient buffer.
void assign(const Tensor& dst, const Tensor& src, bool accumulate);
// Sum of dy over the dims broadcast to reach dy's shape from `shape` (the backward of broadcasting).
Tensor sum_to_shape(const Tensor& dy, const Shape& shape);

// ---- shape ----
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis);

// Rows of x [rows, width] by index -> [idx.size(), width] (embedding lookups). Every index must be
// in [0, rows).
Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& idx);

// ---- losses ----
Tensor mse_loss(const Tensor& pred, const Tensor& target);  // scalar (shape [])
Tensor mse_loss_backward(const Tensor& pred, const Tensor& target, const Tensor& dloss);

// ---- SuperEdit triplet loss (fused with the InstructPix2Pix MSE) ----
struct TripletLossOptions {
  double margin = 5e-4;     // relu(d_pos − d_neg + margin)
  double weight = 1.0;      // loss = mse_weight·mse(pos, ε) + weight·triplet
  double mse_weight = 1.0;
  double threshold = 0;     // SuperEdit's --triplet_loss_threshold: a hinge below it is zeroed (no
                            // loss, no gradient; the sample still counts in the mean)
  double grad_scale = 1.0;  // multiplies the returned gradient (e.g. 1/accumulation steps)
  bool l2 = false;          // distance: per-sample L2 norm instead of the mean square
  bool stop_grad_positive = false;  // the triplet term sends no gradient into pos
};
struct TripletLossOut {
  Tensor grad;   // d loss / d pred, [2B, ...]
  Tensor stats;  // float32 [4 + 3B]: loss, mse, triplet, counted, d_pos[B], d_neg[B], active[B]
};
// pred [2B, ...] = [pos; neg], target [B, ...] (ε or v). keep[b] = 0 excludes sample b from the
// triplet mean (its text condition was dropped); the triplet is the mean over kept samples.
TripletLossOut triplet_loss(const Tensor& pred, const Tensor& target, const std::vector<uint8_t>& keep,
                            const TripletLossOptions& o);

// ---- optimizer (flat float32 buffers of equal length, in place) ----
struct AdamWOptions {
  double lr = 1e-4, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  int64_t step = 1;         // 1-based: the bias corrections use β^step
  double grad_scale = 1.0;  // applied to the gradient on the fly (clipping, loss scaling)
};
void adamw_step(const Tensor& params, const Tensor& grads, const Tensor& m, const Tensor& v, const AdamWOptions& o);
// float32 [2]: Σ x² (accumulated in double, deterministic) and 1 if every element is finite else 0.
Tensor sum_squares(const Tensor& x);
// ema += (1 − decay)·(params − ema)
void ema_update(const Tensor& ema, const Tensor& params, double decay);

// ---- guidance ----
// InstructPix2Pix two-way classifier-free guidance: eps [3B, ...] holds the UNet outputs for
// [text+image, image only, neither]; returns u + s_text·(t − i) + s_image·(i − u), [B, ...].
Tensor pix2pix_guidance(const Tensor& eps, double s_text, double s_image);
Tensor pix2pix_guidance_backward(const Tensor& dy, double s_text, double s_image);  // -> d eps [3B, ...]

// ---- scheduler steps (models/scheduler builds the coefficients; see ie/step_coeffs.h) ----
struct SchedulerStepOut { Tensor prev_sample, pred_original; };
// One fused pass: model_output and sample of the same shape -> prev_sample and the (x0) prediction.
// history: the previous step's prediction (DPM-Solver++ 2M), or null. Noise (used when c.p_noise != 0):
// `noise` if given (same shape), else randn(seed, offset + i) generated in the pass.
SchedulerStepOut scheduler_step(const Tensor& model_output, const Tensor& sample, const SchedStepCoeffs& c,
                                const Tensor* history, const Tensor* noise, uint64_t seed, uint64_t offset);
Tensor scheduler_scale(const Tensor& x, float divisor);  // x / divisor
// a, b [B, ...]: out[i] = ca[i]·a[i] + cb[i]·b[i] per sample i (add_noise, get_velocity); ca/cb hold B values.
Tensor scheduler_mix_rows(const Tensor& a, const Tensor& b, const std::vector<float>& ca, const std::vector<float>& cb);

}  // namespace ie::ops
