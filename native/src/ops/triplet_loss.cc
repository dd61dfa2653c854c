// SuperEdit's triplet loss fused with the InstructPix2Pix MSE: the per-sample sums, the loss terms
// and the gradient in one stream task (two passes over the data, nothing else materialised).
#include <cmath>

#include "cpu/triplet_loss.h"
#include "cuda/triplet_loss.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

TripletLossOut triplet_loss(const Tensor& pred, const Tensor& target, const std::vector<uint8_t>& keep,
                            const TripletLossOptions& o) {
  const char* op = "tripletLoss";
  require_f32(pred, op, "pred");
  require_f32(target, op, "target");
  require_same_device(pred, target, op, "target");
  IE_CHECK(target.ndim() >= 1 && target.size(0) >= 1, op, ": target must have a batch axis, got ", target.desc());
  const int64_t B = target.size(0);
  Shape want = target.shape();
  want[0] = 2 * B;
  IE_CHECK(pred.shape() == want, op, ": pred must be [2B, ...] = [positive; negative] with target's [B, ...] = ",
           target.desc(), ", so ", shape_str(want), "; got ", pred.desc());
  IE_CHECK(int64_t(keep.size()) == B, op, ": mask has ", keep.size(), " entries for batch ", B);
  for (double v : {o.margin, o.weight, o.mse_weight, o.grad_scale, o.threshold}) require_finite(v, op, "an option");
  IE_CHECK(o.threshold >= 0, op, ": hingeThreshold must be >= 0, got ", o.threshold);
  const int64_t n = target.numel() / B;
  IE_CHECK(n >= 1, op, ": each sample must have at least one element, got ", target.desc());
  Tensor grad = Tensor::empty(pred.shape(), DType::F32, pred.device());
  Tensor stats = Tensor::empty({4 + 3 * B}, DType::F32, pred.device());
  if (is_cuda(pred)) {
    // The same steps on the GPU (cuda/triplet_loss.h); stats end up in the CPU's layout.
    IE_IF_CUDA({
      const Device dev = pred.device();
      Tensor partials = Tensor::empty({2 * cuda::triplet_partials(B, n)}, DType::F32, dev);  // doubles
      Tensor coef = Tensor::empty({2 * B}, DType::F32, dev);
      Tensor keep_dev;  // only for masks too long for the kernel arguments
      if (B > cuda::kTripletKeepBits) {
        std::vector<int32_t> k(static_cast<size_t>(B));
        for (int64_t b = 0; b < B; ++b) k[size_t(b)] = keep[size_t(b)] ? 1 : 0;
        keep_dev = from_host(k.data(), k.size() * 4, {B}, DType::I32, dev);
      }
      const cuda::TripletParams p{o.margin, o.weight, o.mse_weight, o.threshold, o.grad_scale, o.l2, o.stop_grad_positive};
      launch(dev, [=] {
        cuda::triplet_loss(pred.data<float>(), target.data<float>(), B, n, keep.data(),
                           keep_dev.defined() ? keep_dev.data<int32_t>() : nullptr, p, partials.data<double>(),
                           coef.data<float>(), grad.data<float>(), stats.data<float>(), dev.index);
      });
    });
    return {grad, stats};
  }
  launch(pred.device(), [=] {
    std::vector<double> sp(static_cast<size_t>(B)), sn(static_cast<size_t>(B));
    cpu::triplet_sums(pred.data<float>(), target.data<float>(), B, n, sp.data(), sn.data());
    const double N = double(B) * double(n);
    double sum_pos = 0;
    int64_t counted = 0;
    for (int64_t b = 0; b < B; ++b) {
      sum_pos += sp[size_t(b)];
      counted += keep[size_t(b)] ? 1 : 0;
    }
    const double mse = sum_pos / N;
    auto dist = [&](double s) { return o.l2 ? std::sqrt(s) : s / double(n); };
    // d dist / d x = k·(x − ε): 2/n for the mean square, 1/‖x − ε‖ for the norm (0 at 0: the
    // subgradient that never produces NaN, where torch's norm backward divides by zero).
    auto dslope = [&](double s) { return o.l2 ? (s > 0 ? 1.0 / std::sqrt(s) : 0.0) : 2.0 / double(n); };
    double tri = 0;
    std::vector<float> cp(static_cast<size_t>(B)), cn(static_cast<size_t>(B));
    float* st = stats.data<float>();
    for (int64_t b = 0; b < B; ++b) {
      const double dp = dist(sp[size_t(b)]), dn = dist(sn[size_t(b)]);
      const double h = dp - dn + o.margin;
      // relu'(0) = 0 as in PyTorch; a hinge below the threshold is masked out (SuperEdit's release:
      // loss *= (loss >= threshold), the sample still in the denominator).
      const bool active = keep[size_t(b)] && h > 0 && h >= o.threshold;
      if (active) tri += h;
      const double g = (active && counted > 0) ? o.weight / double(counted) : 0.0;
      cp[size_t(b)] = float(o.grad_scale * (o.mse_weight * 2.0 / N + (o.stop_grad_positive ? 0.0 : g * dslope(sp[size_t(b)]))));
      cn[size_t(b)] = float(o.grad_scale * (-g * dslope(sn[size_t(b)])));
      st[4 + b] = float(dp);
      st[4 + B + b] = float(dn);
      st[4 + 2 * B + b] = active ? 1.f : 0.f;
    }
    const double triplet = counted > 0 ? tri / double(counted) : 0.0;
    st[0] = float(o.mse_weight * mse + o.weight * triplet);
    st[1] = float(mse);
    st[2] = float(triplet);
    st[3] = float(counted);
    cpu::triplet_grad(pred.data<float>(), target.data<float>(), B, n, cp.data(), cn.data(), grad.data<float>());
  });
  return {grad, stats};
}

}  // namespace ie::ops
