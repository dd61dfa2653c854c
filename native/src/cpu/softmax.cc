#include "cpu/softmax.h"

#include "cpu/softmax_simd.h"
#include "ie/parallel.h"

namespace ie::cpu::IE_ISA {
namespace {

using namespace simd;

// Rows per parallel chunk: about 16K elements of work each.
int64_t row_grain(int64_t N) { return N >= 16384 ? 1 : 16384 / (N > 0 ? N : 1); }

void softmax_row(const float* x, float* y, int64_t N) {
  const int64_t nv = N / W * W;
  vf mv = vset1(-__builtin_inff());
  for (int64_t j = 0; j < nv; j += W) mv = vmax(mv, vload(x + j));
  float mx = vmaxval(mv);
  for (int64_t j = nv; j < N; ++j) mx = x[j] > mx ? x[j] : mx;
  const vf m = vset1(mx);
  vf sv = vzero();
  for (int64_t j = 0; j < nv; j += W) {
    vf e = vexp(vsub(vload(x + j), m));
    vstore(y + j, e);
    sv = vadd(sv, e);
  }
  float s = vsum(sv);
  for (int64_t j = nv; j < N; ++j) {
    y[j] = scalar_exp(x[j] - mx);
    s += y[j];
  }
  const float inv = 1.f / s;
  const vf iv = vset1(inv);
  for (int64_t j = 0; j < nv; j += W) vstore(y + j, vmul(vload(y + j), iv));
  for (int64_t j = nv; j < N; ++j) y[j] *= inv;
}

// dx = y * (dy - <dy, y>)
void softmax_row_backward(const float* y, const float* dy, float* dx, int64_t N) {
  const int64_t nv = N / W * W;
  vf dv = vzero();
  for (int64_t j = 0; j < nv; j += W) dv = vfma(vload(y + j), vload(dy + j), dv);
  float dot = vsum(dv);
  for (int64_t j = nv; j < N; ++j) dot += y[j] * dy[j];
  const vf d = vset1(dot);
  for (int64_t j = 0; j < nv; j += W) vstore(dx + j, vmul(vload(y + j), vsub(vload(dy + j), d)));
  for (int64_t j = nv; j < N; ++j) dx[j] = y[j] * (dy[j] - dot);
}

}  // namespace

void softmax_forward(const float* x, float* y, int64_t M, int64_t N) {
  if (N <= 0) return;
  parallel_for(M, row_grain(N), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) softmax_row(x + i * N, y + i * N, N);
  });
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t M, int64_t N) {
  if (N <= 0) return;
  parallel_for(M, row_grain(N), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) softmax_row_backward(y + i * N, dy + i * N, dx + i * N, N);
  });
}

}  // namespace ie::cpu::IE_ISA
