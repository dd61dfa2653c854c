// CUDA graphs: record the work one thread launches on a device, replay it with one launch.
// Plain C++ (no CUDA headers): models include it. Implemented in graph.cu; the allocator side (the
// graph's private memory pool) lives in runtime.cu. Builds without CUDA have neither: guard uses
// with `#if defined(IE_WITH_CUDA)`.
//
// How a capture works. begin_capture(device) starts stream capture, in
// cudaStreamCaptureModeThreadLocal, on a private capture stream, and points the calling thread at
// it: until end_capture(), everything this thread launches on the device (every kernel, device
// copy and memset of ie::cuda, which all go through stream(device)) is recorded, not run. Other
// threads are not affected: they keep the device's stream and the general allocator cache (the JS
// thread may create tensors meanwhile). Replays launch on the device's stream, ordered with
// everything else there.
//
// Memory. While the thread captures, its allocations on the device come from the graph's private
// pool (a miss takes a block from the general cache, or cudaMalloc's a new one, and the block joins
// the pool), and every block it frees joins the pool. A pool block freed during the capture may be
// reused later in the same capture (the graph keeps the capture's stream order), but by nothing
// else while the graph lives: the graph bakes the addresses in. A graph therefore PINS its pool,
// about the peak memory of one captured pass, until it is destroyed; then (after a stream sync) the
// blocks go back to the general cache. alloc_stats counts the pool's free blocks as `cached`.
// Tensors allocated during a capture should not outlive it (the UNet's do not): one that does keeps
// its block in the pool until freed, and is given to the general cache after the graph is gone.
// Tensors made BEFORE a capture that the captured work reads (inputs, weights) must stay alive as
// long as the graph: freed meanwhile, their memory goes back to a cache and replays would read
// whatever reuses it. (The UNet keeps its static inputs/outputs in the graph's cache entry and the
// weights in the model.)
//
// cudaMalloc during a capture: cudaMalloc is one of the "potentially unsafe" calls a thread that
// captures in the Global or ThreadLocal mode may not make (cuda_runtime_api.h, the documentation of
// cudaThreadExchangeStreamCaptureMode). The capture stays in ThreadLocal mode (so other threads are
// free, and a stray synchronising call on the capturing thread is still caught) and the allocator
// switches the thread to cudaStreamCaptureModeRelaxed for the one cudaMalloc call, restoring the
// mode at once (the documented push-pop use of cudaThreadExchangeStreamCaptureMode; PyTorch's and
// Paddle's caching allocators do the same). A capture never frees to the driver or synchronises.
//
// What cannot be captured: host copies (copy_h2d / copy_d2h) and stream synchronisation are refused
// on a capturing thread with an ie::Error naming them; anything else CUDA refuses makes the capture
// fail. A failed capture never leaves the stream in capture mode (end capture runs on every error
// path) and never aborts: the error says what failed and the Graph is "not captured" (the caller
// then runs the work eagerly). Lazy initialisation (library handles, autotuning, first-call
// attributes) must happen before a capture: run the work once eagerly first.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>

namespace ie::cuda {

class Graph {
 public:
  Graph();
  // Ends a capture still running (the thread that began it must be the one destroying it), frees
  // the executable graph, waits for the device's stream and gives the pool's blocks back.
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Starts recording the calling thread's work on `device` (see above). Throws ie::Error when the
  // thread already captures or CUDA refuses (the object is then not capturing).
  void begin_capture(int device);
  // Stops recording and instantiates the graph. Throws ie::Error with CUDA's message when the
  // capture was invalidated or cannot be instantiated; the object is then "not captured".
  void end_capture();
  // Stops a capture whose recorded work failed: ends stream capture, discards what was recorded,
  // releases the pool. Never throws; a no-op when not capturing.
  void abort_capture() noexcept;
  // begin_capture(device); body(); end_capture(). When the body throws, the capture is aborted and
  // an ie::Error "CUDA graph capture failed: <the body's error>" is thrown.
  void capture(int device, const std::function<void()>& body);

  bool capturing() const;
  bool captured() const;
  int device() const;
  // Launches the graph on the device's stream (returns at once; stream-ordered like a kernel).
  void replay();
  // Bytes the graph's pool holds (pinned while the graph lives).
  size_t pool_bytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// True while the calling thread is capturing (on any device).
bool thread_capturing() noexcept;

namespace detail {
// The allocator side, used by graph.cu; defined in runtime.cu.
struct GraphPool;
GraphPool* pool_create(int device);
// Gives the pool's free blocks to the general cache, forgets its blocks still held by tensors (they
// go to the general cache when freed) and deletes the pool. sync: wait for the device's stream first
// (skipped on a capturing thread).
void pool_release(GraphPool* pool, bool sync) noexcept;
size_t pool_bytes(const GraphPool* pool) noexcept;
// Points the calling thread's launches on `device` at capture_stream (a cudaStream_t) and its
// allocations there at `pool`; pool == nullptr ends it.
void set_thread_capture(int device, GraphPool* pool, void* capture_stream) noexcept;
// The pool the calling thread captures into (nullptr when it does not capture).
GraphPool* thread_capture_pool() noexcept;
// The device's own stream (a cudaStream_t), whatever the calling thread captures.
void* device_stream(int device);
}  // namespace detail

}  // namespace ie::cuda
