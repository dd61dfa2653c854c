// Stream: an ordered work queue with one worker thread, like a CUDA stream (the CPU has one too).
// Ops enqueue closures that hold their tensors alive; sync() waits for everything enqueued so far.
// A task that throws poisons the stream: the error is reported by the next sync() and cleared.
// Work enqueued from inside a task (on the stream's own thread) runs inline, at once; sync() there
// returns at once. Models use this: one task runs a whole forward pass, op by op.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "ie/dtype.h"

namespace ie {

class Stream {
 public:
  explicit Stream(Device device = {});
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void enqueue(std::function<void()> task);
  // True on the stream's worker thread (inside a task).
  bool on_worker() const { return std::this_thread::get_id() == worker_.get_id(); }
  // Blocks until all tasks enqueued before the call have run (on a CUDA device: and until the GPU
  // has finished the kernels they launched); rethrows a task's error.
  void sync();
  // Takes (and clears) the error of a failed task, if any; for use inside a task (sync would wait
  // on itself there).
  std::exception_ptr take_error();
  // Number of tasks not yet finished.
  int64_t pending() const;

 private:
  void loop();
  mutable std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::deque<std::function<void()>> queue_;
  int64_t submitted_ = 0, finished_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  Device device_;
  std::thread worker_;
};

// The default stream of a device (created on first use).
Stream& stream_for(Device device);

}  // namespace ie
