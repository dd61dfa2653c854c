#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ie/error.h"

namespace ie::io {

MappedFile::MappedFile(const std::string& path, bool use_mmap) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    if (err == ENOENT) fail(path, ": no such file");
    fail(path, ": cannot open: ", std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    fail(path, ": cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fail(path, S_ISDIR(st.st_mode) ? ": is a directory, not a file" : ": is not a regular file");
  }
  size_ = uint64_t(st.st_size);
  if (use_mmap && size_ > 0) {
    void* p = ::mmap(nullptr, size_t(size_), PROT_READ, MAP_PRIVATE, fd_, 0);
    if (p != MAP_FAILED) {
      map_ = static_cast<const uint8_t*>(p);
      // Loading walks tensors front to back: ask the kernel for generous read-ahead.
      ::madvise(p, size_t(size_), MADV_SEQUENTIAL);
    }
    // mmap failing (some filesystems, address-space limits) is not an error: pread still works.
  }
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_t(size_));
  if (fd_ >= 0) ::close(fd_);
}

const uint8_t* MappedFile::read(uint64_t offset, size_t len, void* scratch) const {
  IE_CHECK(offset <= size_ && len <= size_ - offset, path_, ": read of ", len, " bytes at offset ", offset,
           " is beyond the end of the file (", size_, " bytes)");
  if (map_) return map_ + offset;
  auto* dst = static_cast<uint8_t*>(scratch);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd_, dst + done, len - done, off_t(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path_, ": read failed at offset ", offset + done, ": ", std::strerror(errno));
    if (n == 0) fail(path_, ": file ended at ", offset + done, " bytes while reading (was it truncated while open?)");
    done += size_t(n);
  }
  return dst;
}

}  // namespace ie::io
