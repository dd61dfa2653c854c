// Fused multi-head attention.
#include <cmath>

#include "cpu/attention.h"
#include "cuda/attention.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

namespace {
struct AttnDims {
  int64_t B, Lq, Lk, H, D;
  float scale;
};

AttnDims attn_dims(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, double scale, bool causal,
                   const char* op) {
  require_float_like(q, q, op, "q");
  require_float_like(q, k, op, "k");
  require_float_like(q, v, op, "v");
  require_same_device(q, k, op, "k");
  require_same_device(q, v, op, "v");
  require_rank(q, 3, op, "q", "[batch, queries, heads*headDim]");
  require_rank(k, 3, op, "k", "[batch, keys, heads*headDim]");
  require_rank(v, 3, op, "v", "[batch, keys, heads*headDim]");
  IE_CHECK(heads >= 1, op, ": heads must be >= 1, got ", heads);
  int64_t C = q.size(2);
  IE_CHECK(C % heads == 0, op, ": q's channel count ", C, " is not divisible by heads (", heads, ")");
  IE_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0), op, ": batch sizes differ: q ", shape_str(q.shape()),
           ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  IE_CHECK(k.size(2) == C && v.size(2) == C, op, ": q, k and v must have the same channel count: q ",
           shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  IE_CHECK(k.size(1) == v.size(1), op, ": k and v must have the same length: k ", shape_str(k.shape()), ", v ",
           shape_str(v.shape()));
  IE_CHECK(k.size(1) >= 1, op, ": k must have at least one key, got ", k.desc());
  IE_CHECK(!causal || q.size(1) == k.size(1), op, ": causal attention needs as many queries as keys, got q ",
           shape_str(q.shape()), ", k ", shape_str(k.shape()));
  require_finite(scale, op, "scale");
  AttnDims d{q.size(0), q.size(1), k.size(1), heads, C / heads, 0.f};
  d.scale = scale > 0 ? float(scale) : float(1.0 / std::sqrt(double(d.D)));
  IE_CHECK(!is_cuda(q) || d.D <= cuda::kAttentionMaxHeadDim, op, ": head dim ", d.D, " (channels ", C, " / heads ",
           heads, ") is above ", cuda::kAttentionMaxHeadDim, ", which the CUDA kernels do not support yet");
  return d;
}
}  // namespace

AttentionOut attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, double scale, bool causal) {
  AttnDims d = attn_dims(q, k, v, heads, scale, causal, "attention");
  AttentionOut o{Tensor::empty(q.shape(), q.dtype(), q.device()),
                 Tensor::empty({d.B, d.H, d.Lq}, DType::F32, q.device())};
  if (is_cuda(q)) {
    IE_IF_CUDA(launch(q.device(), [=] {
      cuda::attention_forward(q.dtype(), q.raw(), k.raw(), v.raw(), o.out.raw(), o.lse.data<float>(), d.B, d.H, d.Lq,
                              d.Lk, d.D, d.scale, causal, q.device().index);
    }));
    return o;
  }
  launch(q.device(), [=] {
    cpu::attention_forward(q.data<float>(), k.data<float>(), v.data<float>(), o.out.data<float>(), o.lse.data<float>(),
                           d.B, d.H, d.Lq, d.Lk, d.D, d.scale, causal);
  });
  return o;
}

AttentionGrads attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, const Tensor& dout, int64_t heads, double scale, bool causal) {
  const char* op = "attentionBackward";
  AttnDims d = attn_dims(q, k, v, heads, scale, causal, op);
  require_float_like(q, out, op, "out");
  require_same_device(q, out, op, "out");
  require_shape(out, q.shape(), op, "out");
  require_float_like(q, dout, op, "dout");
  require_same_device(q, dout, op, "dout");
  require_shape(dout, q.shape(), op, "dout");
  require_f32(lse, op, "lse");
  require_same_device(q, lse, op, "lse");
  require_shape(lse, {d.B, d.H, d.Lq}, op, "lse");
  AttentionGrads g{Tensor::empty(q.shape(), q.dtype(), q.device()), Tensor::empty(k.shape(), q.dtype(), q.device()),
                   Tensor::empty(v.shape(), q.dtype(), q.device())};
  if (is_cuda(q)) {
    IE_IF_CUDA({
      int64_t ntmp = cuda::attention_backward_tmp(d.B, d.H, d.Lq);
      Tensor tmp = Tensor::empty({ntmp > 0 ? ntmp : 1}, DType::F32, q.device());
      launch(q.device(), [=] {
        cuda::attention_backward(q.dtype(), q.raw(), k.raw(), v.raw(), out.raw(), lse.data<float>(), dout.raw(),
                                 g.dq.raw(), g.dk.raw(), g.dv.raw(), tmp.data<float>(), d.B, d.H, d.Lq, d.Lk, d.D,
                                 d.scale, causal, q.device().index);
      });
    });
    return g;
  }
  launch(q.device(), [=] {
    cpu::attention_backward(q.data<float>(), k.data<float>(), v.data<float>(), out.data<float>(), lse.data<float>(),
                            dout.data<float>(), g.dq.data<float>(), g.dk.data<float>(), g.dv.data<float>(), d.B, d.H,
                            d.Lq, d.Lk, d.D, d.scale, causal);
  });
  return g;
}

}  // namespace ie::ops
