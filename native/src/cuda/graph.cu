// CUDA graph capture and replay (see graph.h). The allocator side is in runtime.cu.
#include <cuda_runtime.h>

#include <string>

#include "cuda/common.cuh"
#include "cuda/graph.h"
#include "ie/error.h"

namespace ie::cuda {

struct Graph::Impl {
  int device = -1;
  cudaStream_t cap = nullptr;         // the capture stream, while capturing
  detail::GraphPool* pool = nullptr;  // private memory (from begin_capture until destruction)
  cudaGraphExec_t exec = nullptr;     // the instantiated graph, once captured
  bool capturing = false;
};

namespace {

std::string cuda_msg(cudaError_t e) {
  return std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")";
}

}  // namespace

Graph::Graph() : impl_(std::make_unique<Impl>()) {}

Graph::~Graph() {
  abort_capture();
  Impl& m = *impl_;
  if (m.exec) {
    // An executable graph still running is freed when it completes (cudaGraphExecDestroy's contract).
    if (cudaGraphExecDestroy(m.exec) != cudaSuccess) cudaGetLastError();
    m.exec = nullptr;
  }
  if (m.pool) {
    detail::pool_release(m.pool, true);  // after a sync of the device's stream: no replay still runs
    m.pool = nullptr;
  }
}

bool Graph::capturing() const { return impl_->capturing; }
bool Graph::captured() const { return impl_->exec != nullptr; }
int Graph::device() const { return impl_->device; }
size_t Graph::pool_bytes() const { return detail::pool_bytes(impl_->pool); }

void Graph::begin_capture(int device) {
  Impl& m = *impl_;
  IE_CHECK(!m.capturing, "CUDA graph: begin_capture while this graph is already capturing");
  IE_CHECK(!thread_capturing(), "CUDA graph: this thread is already capturing another graph (captures do not nest)");
  // Capturing again replaces what was captured before.
  if (m.exec) {
    if (cudaGraphExecDestroy(m.exec) != cudaSuccess) cudaGetLastError();
    m.exec = nullptr;
  }
  if (m.pool) {
    detail::pool_release(m.pool, true);
    m.pool = nullptr;
  }
  stream(device);  // validates the index and makes the device current on this thread
  cudaStream_t cap = nullptr;
  check(cudaStreamCreateWithFlags(&cap, cudaStreamNonBlocking), "cudaStreamCreateWithFlags (CUDA graph capture stream)");
  detail::GraphPool* pool = nullptr;
  try {
    pool = detail::pool_create(device);
  } catch (...) {
    cudaStreamDestroy(cap);
    throw;
  }
  // ThreadLocal: only this thread's potentially unsafe calls are refused; the JS thread may allocate
  // and copy meanwhile (it uses the device's stream, not this capture stream).
  cudaError_t e = cudaStreamBeginCapture(cap, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaStreamDestroy(cap);
    detail::pool_release(pool, false);
    fail("CUDA graph: cudaStreamBeginCapture on cuda:", device, " failed: ", cuda_msg(e));
  }
  m.device = device;
  m.cap = cap;
  m.pool = pool;
  m.capturing = true;
  detail::set_thread_capture(device, pool, cap);
}

void Graph::abort_capture() noexcept {
  Impl& m = *impl_;
  if (!m.capturing) return;
  cudaGraph_t g = nullptr;
  if (cudaStreamEndCapture(m.cap, &g) != cudaSuccess) cudaGetLastError();  // invalidated: no graph
  if (g) cudaGraphDestroy(g);
  if (detail::thread_capture_pool() == m.pool) detail::set_thread_capture(-1, nullptr, nullptr);
  if (cudaStreamDestroy(m.cap) != cudaSuccess) cudaGetLastError();
  m.cap = nullptr;
  m.capturing = false;
  detail::pool_release(m.pool, false);  // nothing recorded ever ran
  m.pool = nullptr;
}

void Graph::end_capture() {
  Impl& m = *impl_;
  IE_CHECK(m.capturing, "CUDA graph: end_capture without begin_capture");
  cudaGraph_t g = nullptr;
  cudaError_t e = cudaStreamEndCapture(m.cap, &g);
  if (detail::thread_capture_pool() == m.pool) detail::set_thread_capture(-1, nullptr, nullptr);
  if (cudaStreamDestroy(m.cap) != cudaSuccess) cudaGetLastError();
  m.cap = nullptr;
  m.capturing = false;
  auto drop = [&](bool sync) {
    detail::pool_release(m.pool, sync);
    m.pool = nullptr;
  };
  if (e != cudaSuccess || !g) {
    cudaGetLastError();
    if (g) cudaGraphDestroy(g);
    drop(false);
    if (e == cudaSuccess) fail("CUDA graph capture failed: cudaStreamEndCapture returned no graph");
    fail("CUDA graph capture failed: cudaStreamEndCapture: ", cuda_msg(e),
         e == cudaErrorStreamCaptureInvalidated ? " (a call during the capture was not allowed while capturing)" : "");
  }
  cudaGraphExec_t exec = nullptr;
  e = cudaGraphInstantiate(&exec, g, 0);
  cudaGraphDestroy(g);  // the executable graph keeps what it needs
  if (e != cudaSuccess) {
    cudaGetLastError();
    drop(false);
    fail("CUDA graph: cudaGraphInstantiate failed: ", cuda_msg(e));
  }
  // Uploading now makes the first replay as cheap as the others (stream-ordered on the device's stream).
  e = cudaGraphUpload(exec, static_cast<cudaStream_t>(detail::device_stream(m.device)));
  if (e != cudaSuccess) {
    cudaGetLastError();
    cudaGraphExecDestroy(exec);
    drop(true);
    fail("CUDA graph: cudaGraphUpload failed: ", cuda_msg(e));
  }
  m.exec = exec;
}

void Graph::capture(int device, const std::function<void()>& body) {
  begin_capture(device);
  try {
    body();
  } catch (const std::exception& e) {
    abort_capture();
    fail("CUDA graph capture failed: ", e.what());
  } catch (...) {
    abort_capture();
    throw;
  }
  end_capture();
}

void Graph::replay() {
  Impl& m = *impl_;
  IE_CHECK(m.exec != nullptr, "CUDA graph: replay without a successful capture");
  IE_CHECK(!thread_capturing(), "CUDA graph: replay while this thread is capturing (graphs do not nest)");
  check(cudaGraphLaunch(m.exec, stream(m.device)), "cudaGraphLaunch");
}

}  // namespace ie::cuda
