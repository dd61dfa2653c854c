// gather_rows: rows of a table by index (embedding lookups).
#include <vector>

#include "cpu/gather_rows.h"
#include "cuda/gather_rows.h"
#include "ops/common.h"

namespace ie::ops {
using namespace detail;

Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& idx) {
  const char* op = "gatherRows";
  require_float(x, op, "x");
  IE_CHECK(x.ndim() == 2, op, ": x must be 2-D [rows, width], got ", x.desc());
  const int64_t rows = x.size(0), width = x.size(1), n = int64_t(idx.size());
  for (size_t r = 0; r < idx.size(); ++r)
    IE_CHECK(idx[r] >= 0 && idx[r] < rows, op, ": index ", idx[r], " at position ", r, " is out of range for ", rows,
             " rows");
  Tensor y = Tensor::empty({n, width}, x.dtype(), x.device());
  if (is_cuda(x)) {
    IE_IF_CUDA({
      Tensor di = from_host(idx.data(), idx.size() * sizeof(int32_t), {n}, DType::I32, x.device());
      launch(x.device(), [x, di, y, n, width] {
        cuda::gather_rows(x.dtype(), x.raw(), di.data<int32_t>(), y.raw(), n, width, x.device().index);
      });
    });
    return y;
  }
  launch(x.device(), [x, idx, y, n, width] { cpu::gather_rows(x.data<float>(), idx.data(), y.data<float>(), n, width); });
  return y;
}

}  // namespace ie::ops
