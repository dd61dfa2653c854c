#include "ie/stream.h"

#include "ie/cuda.h"

#include <map>
#include <memory>

namespace ie {

Stream::Stream(Device device) : device_(device), worker_([this] { loop(); }) {}

Stream::~Stream() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  worker_.join();
}

void Stream::enqueue(std::function<void()> task) {
  // Called from one of this stream's own tasks (a model running op after op): run it now. The
  // enclosing task already runs in stream order, and running inline lets each intermediate be
  // freed as soon as the next op has consumed it (memory = the live set, not the whole graph).
  if (std::this_thread::get_id() == worker_.get_id()) {
    task();
    return;
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.push_back(std::move(task));
    ++submitted_;
  }
  cv_work_.notify_one();
}

void Stream::sync() {
  // Inside a task everything enqueued so far has already run inline (and thrown, if it failed).
  if (std::this_thread::get_id() == worker_.get_id()) return;
  std::unique_lock<std::mutex> lk(mu_);
  int64_t target = submitted_;
  cv_done_.wait(lk, [&] { return finished_ >= target; });
  if (!error_ && !device_.is_cpu()) {
    // The tasks only launched their kernels; wait for the GPU too (a failed kernel reports here).
    lk.unlock();
    cuda::synchronize(device_.index);
    return;
  }
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

std::exception_ptr Stream::take_error() {
  std::lock_guard<std::mutex> lk(mu_);
  std::exception_ptr e = error_;
  error_ = nullptr;
  return e;
}

int64_t Stream::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return submitted_ - finished_;
}

void Stream::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      task();
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu_);
      if (!error_) error_ = std::current_exception();
    }
    task = nullptr;  // release captured tensors before reporting completion
    {
      std::lock_guard<std::mutex> lk(mu_);
      ++finished_;
    }
    cv_done_.notify_all();
  }
}

Stream& stream_for(Device device) {
  static std::mutex mu;
  // Leaked on purpose: streams live until exit, so no worker is joined during static destruction.
  static auto* streams = new std::map<std::pair<int, int>, std::unique_ptr<Stream>>();
  std::lock_guard<std::mutex> lk(mu);
  auto& s = (*streams)[{int(device.type), device.index}];
  if (!s) s = std::make_unique<Stream>(device);
  return *s;
}

}  // namespace ie
