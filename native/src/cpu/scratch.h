// Per-thread, grow-only, 64-byte aligned scratch for kernels (packing and im2col buffers are reused
// across calls, so small calls don't pay for allocation and page faults). Include from kernel
// sources only: the type lives in an anonymous namespace inside the per-ISA namespace, so every
// ISA build has its own copy (see README.md).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#ifndef IE_ISA
#error "scratch.h is for kernel sources compiled per ISA"
#endif

namespace ie::cpu::IE_ISA {
namespace {

struct Scratch {
  float* p = nullptr;
  size_t cap = 0;
  ~Scratch() { std::free(p); }
  // At least n floats; the contents are not preserved when it grows.
  float* get(size_t n) {
    if (n > cap) {
      std::free(p);
      size_t bytes = (n * sizeof(float) + 63) & ~size_t(63);
      p = static_cast<float*>(std::aligned_alloc(64, bytes));
      cap = p ? bytes / sizeof(float) : 0;
      // parallel_for carries this to the caller, and the stream reports it as the op's error.
      if (!p) throw std::bad_alloc();
    }
    return p;
  }
};

}  // namespace
}  // namespace ie::cpu::IE_ISA
