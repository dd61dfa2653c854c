// Scheduler step ops: validation on the caller's thread, then the fused kernel on the stream.
#include <cmath>

#include "cpu/scheduler_step.h"
#include "cuda/scheduler_step.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

static void check_same(const Tensor& ref, const Tensor& t, const char* op, const char* ref_name, const char* name) {
  require_f32(t, op, name);
  require_same_device(ref, t, op, name);
  IE_CHECK(t.shape() == ref.shape(), op, ": ", name, " must have the shape of ", ref_name, " ",
           shape_str(ref.shape()), ", got ", t.desc());
  IE_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous");
}

SchedulerStepOut scheduler_step(const Tensor& model_output, const Tensor& sample, const SchedStepCoeffs& c,
                                const Tensor* history, const Tensor* noise, uint64_t seed, uint64_t offset) {
  const char* op = "scheduler.step";
  require_f32(sample, op, "sample");
  IE_CHECK(sample.is_contiguous(), op, ": sample must be contiguous");
  check_same(sample, model_output, op, "sample", "modelOutput");
  if (history) check_same(sample, *history, op, "sample", "the previous step's prediction");
  if (noise) check_same(sample, *noise, op, "sample", "noise");
  SchedulerStepOut out{Tensor::empty(sample.shape(), DType::F32, sample.device()),
                       Tensor::empty(sample.shape(), DType::F32, sample.device())};
  const bool gen = c.p_noise != 0 && !noise;
  Tensor h = history ? *history : Tensor(), z = noise ? *noise : Tensor();
  if (is_cuda(sample)) {
    IE_IF_CUDA(launch(sample.device(), [=] {
      cuda::scheduler_step(model_output.data<float>(), sample.data<float>(), h.defined() ? h.data<float>() : nullptr,
                           z.defined() ? z.data<float>() : nullptr, gen, seed, offset, c,
                           out.prev_sample.data<float>(), out.pred_original.data<float>(), sample.numel(),
                           sample.device().index);
    }));
    return out;
  }
  launch(sample.device(), [=] {
    cpu::scheduler_step(model_output.data<float>(), sample.data<float>(), h.defined() ? h.data<float>() : nullptr,
                        z.defined() ? z.data<float>() : nullptr, gen, seed, offset, c,
                        out.prev_sample.data<float>(), out.pred_original.data<float>(), sample.numel());
  });
  return out;
}

Tensor scheduler_scale(const Tensor& x, float divisor) {
  const char* op = "scheduler.scaleModelInput";
  require_f32(x, op, "sample");
  IE_CHECK(x.is_contiguous(), op, ": sample must be contiguous");
  IE_CHECK(std::isfinite(divisor) && divisor != 0, op, ": divisor must be finite and non-zero, got ", divisor);
  Tensor y = Tensor::empty(x.shape(), DType::F32, x.device());
  if (is_cuda(x)) {
    IE_IF_CUDA(launch(x.device(), [=] { cuda::scheduler_scale(x.data<float>(), divisor, y.data<float>(), x.numel(), x.device().index); }));
    return y;
  }
  launch(x.device(), [=] { cpu::scheduler_scale(x.data<float>(), divisor, y.data<float>(), x.numel()); });
  return y;
}

Tensor scheduler_mix_rows(const Tensor& a, const Tensor& b, const std::vector<float>& ca, const std::vector<float>& cb) {
  const char* op = "scheduler.addNoise";
  require_f32(a, op, "original");
  IE_CHECK(a.is_contiguous(), op, ": original must be contiguous");
  check_same(a, b, op, "original", "noise");
  IE_CHECK(a.ndim() >= 1 && a.size(0) > 0, op, ": original must have a batch dimension, got ", a.desc());
  const int64_t rows = a.size(0);
  IE_CHECK(int64_t(ca.size()) == rows && int64_t(cb.size()) == rows, op, ": ", ca.size(),
           " per-sample coefficients for a batch of ", rows);
  Tensor y = Tensor::empty(a.shape(), DType::F32, a.device());
  if (is_cuda(a)) {
    IE_IF_CUDA({
      Tensor coef;  // only for batches too large for the kernel arguments: [ca; cb] on the device
      if (rows > cuda::kMixRowsInline) {
        std::vector<float> both(ca);
        both.insert(both.end(), cb.begin(), cb.end());
        coef = from_host(both.data(), both.size() * 4, {2 * rows}, DType::F32, a.device());
      }
      launch(a.device(), [=] {
        cuda::scheduler_mix_rows(a.data<float>(), b.data<float>(), ca.data(), cb.data(),
                                 coef.defined() ? coef.data<float>() : nullptr, y.data<float>(), rows, a.numel() / rows,
                                 a.device().index);
      });
    });
    return y;
  }
  launch(a.device(), [=] {
    cpu::scheduler_mix_rows(a.data<float>(), b.data<float>(), ca.data(), cb.data(), y.data<float>(), rows,
                            a.numel() / rows);
  });
  return y;
}

}  // namespace ie::ops
