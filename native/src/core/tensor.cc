#include "ie/tensor.h"

#include <cstdlib>
#include <new>
#include <sstream>

#include "ie/allocator.h"
#include "ie/cuda.h"
#include "ie/error.h"

namespace ie {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int i = int(shape.size()) - 1; i >= 0; --i) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  size_t alloc = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;  // padded to a cache line
  if (device.is_cpu()) {
    data_ = cpu_alloc(alloc);
  } else {
    data_ = cuda::malloc(alloc, device.index);
  }
}

Storage::~Storage() {
  size_t alloc = bytes_ == 0 ? 64 : (bytes_ + 63) / 64 * 64;
  if (device_.is_cpu()) cpu_free(data_, alloc);
  else cuda::free(data_, alloc, device_.index);
}

// Largest tensor we accept: guards against overflow in size arithmetic from absurd shapes.
static constexpr int64_t kMaxElements = int64_t(1) << 40;

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = 1;
  for (int64_t d : shape) {
    IE_CHECK(d >= 0, "tensor shape ", shape_str(shape), " has a negative dimension");
    IE_CHECK(d == 0 || n <= kMaxElements / d, "tensor shape ", shape_str(shape), " is too large");
    n *= d;
  }
  if (device.type == DeviceType::CUDA) {
    IE_CHECK(cuda::built(), "device 'cuda' is not available: instructedit was built without CUDA");
    int count = cuda::device_count();
    IE_CHECK(device.index < count, "device '", device.str(), "' is not available (", count, " CUDA device",
             count == 1 ? "" : "s", " found)");
  }
  Tensor t;
  t.storage_ = std::make_shared<Storage>(size_t(n) * dtype_size(dtype), device);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

int64_t Tensor::size(int dim) const {
  int d = dim < 0 ? dim + ndim() : dim;
  IE_CHECK(d >= 0 && d < ndim(), "dimension ", dim, " is out of range for a ", ndim(), "-D tensor");
  return shape_[d];
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::reshape(const Shape& shape) const {
  IE_CHECK(is_contiguous(), "reshape: tensor is not contiguous");
  IE_CHECK(shape_numel(shape) == numel(), "reshape: cannot view ", shape_str(shape_), " (", numel(),
           " elements) as ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

Tensor Tensor::view(int64_t offset, const Shape& shape) const {
  IE_CHECK(is_contiguous(), "view: tensor is not contiguous");
  int64_t n = shape_numel(shape);
  IE_CHECK(offset >= 0 && n >= 0 && offset + n <= numel(), "view: ", shape_str(shape), " at element offset ", offset,
           " does not fit in ", shape_str(shape_), " (", numel(), " elements)");
  Tensor t = *this;
  t.offset_ = offset_ + offset;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  return t;
}

std::string Tensor::desc() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " on " + device().str();
}

}  // namespace ie
