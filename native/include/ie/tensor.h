// ie::Tensor: a shape, strides and a dtype over reference-counted device memory.
// Copies are cheap (they share the storage). Work on tensors is ordered by the device's Stream
// (stream.h): an op validates and allocates its output at once, and the kernel runs later.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ie/dtype.h"

namespace ie {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

// Raw memory on one device. Freed when the last Tensor referring to it goes away.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype, Device device = {});

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int ndim() const { return int(shape_.size()); }
  int64_t size(int dim) const;  // negative dims count from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device{}; }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* raw() const { return static_cast<char*>(storage_->data()) + offset_ * int64_t(dtype_size(dtype_)); }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }

  // Same storage, new shape (contiguous tensors only; numel must match).
  Tensor reshape(const Shape& shape) const;
  // A contiguous view of `shape` starting `offset` elements into this (contiguous) tensor's data;
  // it must fit inside. Flat parameter buffers hand out their per-parameter tensors this way.
  Tensor view(int64_t offset, const Shape& shape) const;
  // "float32[2, 3] on cpu"
  std::string desc() const;

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_, strides_;
  DType dtype_ = DType::F32;
};

Shape contiguous_strides(const Shape& shape);

}  // namespace ie
