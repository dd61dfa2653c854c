// Runner: `ie_native_tests [suite...]` runs those suites (all when none given) and prints
// "N passed, N failed" as its last line.
#include <cstdio>
#include <cstring>
#include <exception>
#include <set>
#include <string>

#include "harness.h"
#include "ie/cuda.h"
#include "ie/error.h"

namespace iet {

std::vector<TestCase>& registry() {
  static std::vector<TestCase> r;
  return r;
}
std::string& context() {
  static std::string c;
  return c;
}
static int g_failures = 0;
static bool g_skipped = false;
bool cuda_device_or_skip() {
  if (ie::cuda::device_count() > 0) {
    context() = "cuda:0";
    return true;
  }
  g_skipped = true;
  std::printf("  skipped: no CUDA device (%s)\n",
              ie::cuda::built() ? "built with CUDA, but no GPU or driver found" : "built without CUDA");
  return false;
}
void record_failure(const char* file, int line, const std::string& msg) {
  ++g_failures;
  std::fprintf(stderr, "  FAIL %s:%d [%s] %s\n", file, line, context().c_str(), msg.c_str());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ie::Error& e) {
    return e.what();
  }
  return "";
}

void for_each_cpu_path(const std::function<void()>& fn) {
  ie::CpuPath saved = ie::cpu_path();
  for (int p = 0; p <= int(ie::cpu_path_detected()); ++p) {
    ie::set_cpu_path(ie::CpuPath(p));
    context() = std::string("cpu:") + ie::cpu_path_name(ie::CpuPath(p));
    fn();
  }
  context().clear();
  ie::set_cpu_path(saved);
}

}  // namespace iet

int main(int argc, char** argv) {
  std::set<std::string> suites;
  for (int i = 1; i < argc; ++i) suites.insert(argv[i]);
  int passed = 0, failed = 0, ran = 0, skipped = 0;
  for (const auto& t : iet::registry()) {
    if (!suites.empty() && !suites.count(t.suite)) continue;
    ++ran;
    int before = iet::g_failures;
    iet::g_skipped = false;
    try {
      t.fn();
    } catch (const std::exception& e) {
      iet::record_failure(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    iet::context().clear();
    bool ok = iet::g_failures == before;
    if (ok && iet::g_skipped) {
      std::printf("skip %s.%s\n", t.suite, t.name);
      ++skipped;
      continue;
    }
    std::printf("%s %s.%s\n", ok ? "ok  " : "FAIL", t.suite, t.name);
    (ok ? passed : failed)++;
  }
  if (ran == 0) {
    std::fprintf(stderr, "no tests matched\n");
    return 2;
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  return passed == 0 && skipped > 0 ? 77 : 0;  // 77: ctest's SKIP_RETURN_CODE
}
