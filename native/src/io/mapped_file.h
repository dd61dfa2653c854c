// Read-only access to a file's bytes: mapped into memory when possible (loading converts straight
// from the page cache, no intermediate copy), else read with pread on demand. Thread-safe reads.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ie::io {

class MappedFile {
 public:
  // Throws ie::Error naming the path when the file cannot be opened, is not a regular file, etc.
  explicit MappedFile(const std::string& path, bool use_mmap = true);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  bool mapped() const { return map_ != nullptr; }

  // The bytes [offset, offset + len): a pointer into the mapping, or `scratch` (len bytes, the
  // caller's) filled with pread. Throws ie::Error if the range is outside the file or a read fails.
  const uint8_t* read(uint64_t offset, size_t len, void* scratch) const;

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  const uint8_t* map_ = nullptr;
};

}  // namespace ie::io
