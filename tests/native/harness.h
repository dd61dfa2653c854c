// A small test harness for the native kernels. A test file tests/native/test_<suite>.cc defines
// tests with IE_TEST(<suite>, name); ctest runs `ie_native_tests <suite>`, one entry per file.
//
// Standard for a kernel test (see ../shared/DESIGN.md): fresh random inputs, a float64 reference,
// relative error ||out - ref|| / ||ref|| < 1e-5 for float32, outputs poisoned (NaN) before the run
// so an unwritten element fails, every backward also checked against central finite differences,
// and every CPU dispatch path the machine supports (for_each_cpu_path).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "ie/cpu_features.h"
#include "ie/philox.h"

namespace iet {

struct TestCase {
  const char* suite;
  const char* name;
  void (*fn)();
};
std::vector<TestCase>& registry();
struct Registrar {
  Registrar(const char* s, const char* n, void (*fn)()) { registry().push_back({s, n, fn}); }
};

// Failures are recorded (not thrown) so one test reports every bad check; context() names the
// CPU path being run.
void record_failure(const char* file, int line, const std::string& msg);
std::string& context();

// Deterministic random data: seed picks the stream. Tests use a fresh seed per case.
inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i += 2) {
    float a, b;
    ie::philox_normal_pair(seed, i / 2, &a, &b);
    v[i] = a * scale;
    if (i + 1 < n) v[i + 1] = b * scale;
  }
  return v;
}
inline std::vector<float> rand_uniform(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = lo + (hi - lo) * ie::philox_uniform(seed, i);
  return v;
}
inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
inline std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }

// ||a - ref|| / ||ref||; NaN anywhere gives +inf. A zero reference uses the absolute norm.
inline double rel_error(const float* a, const double* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    double d = double(a[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}
inline double rel_error(const std::vector<float>& a, const std::vector<double>& ref) {
  if (a.size() != ref.size()) return std::numeric_limits<double>::infinity();
  return rel_error(a.data(), ref.data(), a.size());
}

// The message of the ie::Error that f throws ("" when it throws none).
std::string error_of(const std::function<void()>& f);
// Whether f throws an ie::Error whose message contains `needle`.
inline bool throws_with(const std::function<void()>& f, const std::string& needle) {
  std::string m = error_of(f);
  return !m.empty() && m.find(needle) != std::string::npos;
}

// GPU tests start with `if (!iet::cuda_device_or_skip()) return;`: without a CUDA device the test
// is reported as skipped (a suite whose tests all skipped exits 77, which ctest shows as skipped).
bool cuda_device_or_skip();

// Runs fn once per CPU path this machine supports, with the path set and named in failures.
void for_each_cpu_path(const std::function<void()>& fn);

// Central finite difference of f along direction v at x (float64): (f(x+hv) - f(x-hv)) / 2h.
inline double directional_fd(const std::function<double(const std::vector<double>&)>& f,
                             const std::vector<double>& x, const std::vector<double>& v, double h = 1e-6) {
  std::vector<double> xp(x), xm(x);
  for (size_t i = 0; i < x.size(); ++i) {
    xp[i] += h * v[i];
    xm[i] -= h * v[i];
  }
  return (f(xp) - f(xm)) / (2 * h);
}
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
inline double dot(const std::vector<float>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

}  // namespace iet

#define IE_TEST(suite, name)                                                   \
  static void iet_##suite##_##name();                                          \
  static ::iet::Registrar iet_reg_##suite##_##name(#suite, #name, &iet_##suite##_##name); \
  static void iet_##suite##_##name()

#define IE_EXPECT(cond, ...)                                                       \
  do {                                                                            \
    if (!(cond)) ::iet::record_failure(__FILE__, __LINE__, std::string(#cond) + " " + std::string(__VA_ARGS__)); \
  } while (0)

// Relative-error check with the measured value in the message.
#define IE_EXPECT_REL(err, tol, what)                                                                  \
  do {                                                                                                \
    double iet_e = (err);                                                                             \
    if (!(iet_e < (tol))) {                                                                           \
      char iet_buf[256];                                                                              \
      std::snprintf(iet_buf, sizeof iet_buf, "%s: relative error %.3g >= %.3g", std::string(what).c_str(), iet_e, double(tol)); \
      ::iet::record_failure(__FILE__, __LINE__, iet_buf);                                             \
    }                                                                                                 \
  } while (0)
