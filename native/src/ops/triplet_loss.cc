// SuperEdit's triplet loss fused with the InstructPix2Pix MSE: the per-sample sums, the loss terms
// and the gradient in one stream task (two passes over the data, nothing else materialised).
#include <cmath>

#include "cpu/triplet_loss.h"
#include "cuda/triplet_loss.h"
#include "ops/common.h"
#include "ops/triplet_terms.h"

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
      const ie::triplet::Params p{o.margin, o.weight, o.mse_weight, o.threshold, o.grad_scale, o.l2, o.stop_grad_positive};
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
    const ie::triplet::Params p{o.margin, o.weight, o.mse_weight, o.threshold, o.grad_scale, o.l2, o.stop_grad_positive};
    std::vector<float> coef(static_cast<size_t>(2 * B));
    ie::triplet::terms(p, B, n, [&](int64_t b) { return sp[size_t(b)]; }, [&](int64_t b) { return sn[size_t(b)]; },
                       [&](int64_t b) { return keep[size_t(b)] != 0; }, coef.data(), stats.data<float>());
    cpu::triplet_grad(pred.data<float>(), target.data<float>(), B, n, coef.data(), coef.data() + B, grad.data<float>());
  });
  return {grad, stats};
}

}  // namespace ie::ops
