// Losses.
#include "cpu/loss.h"
#include "cuda/loss.h"
#include "cuda/reduce.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

static void check_mse(const Tensor& pred, const Tensor& target, const char* op) {
  require_f32(pred, op, "pred");
  require_f32(target, op, "target");
  require_same_device(pred, target, op, "target");
  IE_CHECK(pred.shape() == target.shape(), op, ": pred ", shape_str(pred.shape()), " and target ",
           shape_str(target.shape()), " must have the same shape");
  IE_CHECK(pred.numel() > 0, op, ": inputs are empty");
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_mse(pred, target, "mseLoss");
  Tensor y = Tensor::empty({}, DType::F32, pred.device());
  if (is_cuda(pred)) {
    IE_IF_CUDA({
      // double partials of the deterministic two-stage sum, in a float32 tensor of twice the count
      Tensor partials = Tensor::empty({2 * cuda::sum_sq_row_chunks(pred.numel())}, DType::F32, pred.device());
      launch(pred.device(), [=] {
        cuda::mse_forward(pred.data<float>(), target.data<float>(), pred.numel(), partials.data<double>(),
                          y.data<float>(), pred.device().index);
      });
    });
    return y;
  }
  launch(pred.device(), [=] { cpu::mse_forward(pred.data<float>(), target.data<float>(), y.data<float>(), pred.numel()); });
  return y;
}

Tensor mse_loss_backward(const Tensor& pred, const Tensor& target, const Tensor& dloss) {
  check_mse(pred, target, "mseLossBackward");
  require_f32(dloss, "mseLossBackward", "dloss");
  IE_CHECK(dloss.numel() == 1, "mseLossBackward: dloss must hold one value, got ", dloss.desc());
  require_same_device(pred, dloss, "mseLossBackward", "dloss");
  Tensor d = Tensor::empty(pred.shape(), DType::F32, pred.device());
  if (is_cuda(pred)) {
    IE_IF_CUDA(launch(pred.device(), [=] {
      cuda::mse_backward(pred.data<float>(), target.data<float>(), dloss.data<float>(), d.data<float>(), pred.numel(),
                         pred.device().index);
    }));
    return d;
  }
  launch(pred.device(), [=] {
    cpu::mse_backward(pred.data<float>(), target.data<float>(), dloss.data<float>(), d.data<float>(), pred.numel());
  });
  return d;
}

}  // namespace ie::ops
