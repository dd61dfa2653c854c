// Thread pool behind parallel_for. One parallel region runs at a time (a mutex serialises callers);
// workers spin briefly before sleeping so back-to-back regions (GEMM panels) start fast.
#include "ie/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace ie {
namespace {

thread_local bool t_in_parallel = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

class Pool {
 public:
  explicit Pool(int n) { start(n); }
  ~Pool() { stop(); }

  int size() const { return nthreads_; }

  void resize(int n) {
    std::lock_guard<std::mutex> region(region_mu_);
    stop();
    start(n);
  }

  void run(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
    grain = std::max<int64_t>(grain, 1);
    int64_t max_chunks = (n + grain - 1) / grain;
    if (t_in_parallel || nthreads_ <= 1 || max_chunks <= 1) {
      fn(ctx, 0, n);
      return;
    }
    std::lock_guard<std::mutex> region(region_mu_);
    int chunks = int(std::min<int64_t>(max_chunks, nthreads_));
    job_fn_ = fn;
    job_ctx_ = ctx;
    job_n_ = n;
    job_chunks_ = chunks;
    next_chunk_.store(0, std::memory_order_release);
    remaining_.store(chunks, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    t_in_parallel = true;
    work();
    t_in_parallel = false;
    // Wait for the workers' chunks.
    while (remaining_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    if (job_error_) {
      std::exception_ptr e = job_error_;
      job_error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void start(int n) {
    nthreads_ = std::max(1, n);
    quit_ = false;
    // Workers start from the current generation (read here, not in the thread, which may start
    // only after a later bump).
    uint64_t g0 = generation_.load(std::memory_order_acquire);
    for (int i = 1; i < nthreads_; ++i) workers_.emplace_back([this, g0] { worker(g0); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      quit_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Claims chunks until none are left. Chunk c covers a fixed range, so a given thread count
  // always partitions the same way.
  void work() {
    for (;;) {
      int c = next_chunk_.fetch_add(1, std::memory_order_acq_rel);
      if (c >= job_chunks_) return;
      int64_t b = job_n_ * c / job_chunks_, e = job_n_ * (c + 1) / job_chunks_;
      if (b < e) {
        try {
          job_fn_(job_ctx_, b, e);
        } catch (...) {
          // Carried to the calling thread: an exception must not escape a pool thread.
          std::lock_guard<std::mutex> lk(error_mu_);
          if (!job_error_) job_error_ = std::current_exception();
        }
      }
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void worker(uint64_t seen) {
    t_in_parallel = true;
    for (;;) {
      // Spin a little, then sleep.
      uint64_t g = seen;
      for (int i = 0; i < 20000 && (g = generation_.load(std::memory_order_acquire)) == seen; ++i)
        cpu_relax();
      if (g == seen) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (quit_) return;
      work();
    }
  }

  int nthreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex region_mu_;  // one region at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> quit_{false};
  RangeFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_n_ = 0;
  int job_chunks_ = 0;
  std::atomic<int> next_chunk_{0};
  std::atomic<int> remaining_{0};
  std::mutex error_mu_;
  std::exception_ptr job_error_;
};

std::mutex g_pool_mu;
Pool* g_pool = nullptr;

Pool& pool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) g_pool = new Pool(hardware_threads());  // leaked on purpose: lives until exit
  return *g_pool;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) { pool().resize(n <= 0 ? hardware_threads() : n); }

void parallel_for_raw(int64_t n, int64_t grain, RangeFn fn, void* ctx) {
  if (n <= 0) return;
  pool().run(n, grain, fn, ctx);
}

}  // namespace ie
