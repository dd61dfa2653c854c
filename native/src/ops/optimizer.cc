// Optimizer ops over flat buffers: fused AdamW, the squared norm with a finiteness flag (gradient
// clipping and the non-finite guard), and the EMA of the weights.
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "cpu/optimizer.h"
#include "cuda/optimizer.h"
#include "cuda/reduce.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

namespace {
void require_flat_like(const Tensor& t, const Tensor& ref, const char* op, const char* arg) {
  require_f32(t, op, arg);
  require_same_device(ref, t, op, arg);
  IE_CHECK(t.is_contiguous(), op, ": ", arg, " must be contiguous");
  IE_CHECK(t.numel() == ref.numel(), op, ": ", arg, " has ", t.numel(), " elements, the parameters ", ref.numel());
}
// The kernels update in place and assume their buffers never overlap.
void require_disjoint(const std::vector<std::pair<const Tensor*, const char*>>& ts, const char* op) {
  for (size_t i = 0; i < ts.size(); ++i)
    for (size_t j = i + 1; j < ts.size(); ++j) {
      const char* a = static_cast<const char*>(ts[i].first->raw());
      const char* b = static_cast<const char*>(ts[j].first->raw());
      bool overlap = a < b + ts[j].first->nbytes() && b < a + ts[i].first->nbytes();
      IE_CHECK(!overlap, op, ": ", ts[i].second, " and ", ts[j].second, " share memory; they must be separate buffers");
    }
}
}  // namespace

void adamw_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const AdamWOptions& o) {
  const char* op = "adamwStep";
  require_flat_like(p, p, op, "params");
  require_flat_like(g, p, op, "grads");
  require_flat_like(m, p, op, "m");
  require_flat_like(v, p, op, "v");
  require_disjoint({{&p, "params"}, {&g, "grads"}, {&m, "m"}, {&v, "v"}}, op);
  for (double x : {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_scale}) require_finite(x, op, "an option");
  IE_CHECK(o.lr >= 0, op, ": lr must be >= 0, got ", o.lr);
  IE_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, op, ": betas must be in [0, 1), got ", o.beta1,
           ", ", o.beta2);
  IE_CHECK(o.eps > 0, op, ": eps must be > 0, got ", o.eps);
  IE_CHECK(o.weight_decay >= 0, op, ": weightDecay must be >= 0, got ", o.weight_decay);
  IE_CHECK(o.step >= 1, op, ": step must be >= 1 (1-based), got ", o.step);
  const double bias1 = 1.0 - std::pow(o.beta1, double(o.step)), bias2 = 1.0 - std::pow(o.beta2, double(o.step));
  const std::array<float, 9> k{float(o.beta1), float(1.0 - o.beta1), float(o.beta2), float(1.0 - o.beta2),
                               float(1.0 - o.lr * o.weight_decay), float(o.lr / bias1), float(std::sqrt(bias2)),
                               float(o.eps), float(o.grad_scale)};
  if (is_cuda(p)) {
    IE_IF_CUDA({
      cuda::AdamWCoeffs c;
      for (int i = 0; i < 9; ++i) c.k[i] = k[size_t(i)];
      launch(p.device(), [=] {
        cuda::adamw_step(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), p.numel(), c,
                         p.device().index);
      });
    });
    return;
  }
  launch(p.device(), [=] {
    cpu::adamw_step(p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), p.numel(), k.data());
  });
}

Tensor sum_squares(const Tensor& x) {
  const char* op = "sumSquares";
  require_f32(x, op, "x");
  IE_CHECK(x.is_contiguous(), op, ": x must be contiguous");
  Tensor out = Tensor::empty({2}, DType::F32, x.device());
  if (is_cuda(x)) {
    IE_IF_CUDA({
      Tensor partials = Tensor::empty({2 * cuda::sum_sq_row_chunks(x.numel())}, DType::F32, x.device());  // doubles
      launch(x.device(), [=] {
        cuda::sum_squares(x.data<float>(), x.numel(), partials.data<double>(), out.data<float>(), x.device().index);
      });
    });
    return out;
  }
  launch(x.device(), [=] {
    double s = 0;
    int finite = 1;
    cpu::sum_squares(x.data<float>(), x.numel(), &s, &finite);
    out.data<float>()[0] = float(s);
    out.data<float>()[1] = float(finite);
  });
  return out;
}

void ema_update(const Tensor& ema, const Tensor& p, double decay) {
  const char* op = "emaUpdate";
  require_flat_like(p, p, op, "params");
  require_flat_like(ema, p, op, "ema");
  require_disjoint({{&ema, "ema"}, {&p, "params"}}, op);
  require_finite(decay, op, "decay");
  IE_CHECK(decay >= 0 && decay <= 1, op, ": decay must be in [0, 1], got ", decay);
  if (is_cuda(p)) {
    IE_IF_CUDA(launch(p.device(), [=] {
      cuda::ema_update(ema.data<float>(), p.data<float>(), p.numel(), float(decay), p.device().index);
    }));
    return;
  }
  launch(p.device(), [=] { cpu::ema_update(ema.data<float>(), p.data<float>(), p.numel(), float(decay)); });
}

}  // namespace ie::ops
