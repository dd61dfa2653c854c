// Writing safetensors files atomically: temp file in the target's directory, fsync, rename.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <set>

#include "ie/error.h"
#include "ie/ops.h"
#include "ie/safetensors.h"
#include "ie/stream.h"

namespace ie::safetensors {
namespace {

void append_json_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += char(c);  // UTF-8 passes through unchanged
    }
  }
  out += '"';
}

// The header JSON as the reference writer lays it out: "__metadata__" first (when there is any),
// then the tensors in the given (sorted) order with consecutive offsets; spaces pad the header to
// a multiple of 8 bytes so the data section starts 8-byte aligned.
std::string build_header(const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      append_json_string(h, k);
      h += ':';
      append_json_string(h, v);
    }
    h += '}';
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (h.size() > 1) h += ',';
    append_json_string(h, name);
    h += ":{\"dtype\":\"";
    h += file_dtype_tag(file_dtype_of(t.dtype()));
    h += "\",\"shape\":[";
    for (int i = 0; i < t.ndim(); ++i) h += (i ? "," : "") + std::to_string(t.shape()[size_t(i)]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + ",";
    offset += t.nbytes();
    h += std::to_string(offset) + "]}";
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  return h;
}

// A file descriptor for the temporary file; unless committed, the file is removed on scope exit,
// so no error path leaves "<path>.tmp-*" litter behind.
class TempFile {
 public:
  TempFile(const std::string& target) : target_(target) {
    std::random_device rd;
    char suffix[64];
    std::snprintf(suffix, sizeof suffix, ".tmp-%ld-%08x", long(::getpid()), unsigned(rd()));
    path_ = target + suffix;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ < 0) {
      int err = errno;
      if (err == ENOENT) fail(target, ": cannot save: the directory does not exist");
      fail(target, ": cannot save: creating '", path_, "' failed: ", std::strerror(err));
    }
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }

  void write(const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    while (bytes > 0) {
      ssize_t n = ::write(fd_, p, std::min(bytes, size_t(1) << 30));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail(target_, ": cannot save: writing '", path_, "' failed: ", std::strerror(errno));
      p += n;
      bytes -= size_t(n);
    }
  }

  // fsync, close and rename over the target: after this returns the new file is in place whole.
  void commit() {
    if (::fsync(fd_) != 0) fail(target_, ": cannot save: fsync of '", path_, "' failed: ", std::strerror(errno));
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail(target_, ": cannot save: closing '", path_, "' failed: ", std::strerror(errno));
    if (::rename(path_.c_str(), target_.c_str()) != 0) {
      int err = errno;
      fail(target_, ": cannot save: ", err == EISDIR ? "the path is a directory" : std::strerror(err));
    }
    committed_ = true;
    // Make the rename itself durable (best effort: some filesystems cannot fsync a directory).
    size_t slash = target_.find_last_of('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : target_.substr(0, slash);
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }

 private:
  std::string target_, path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata) {
  IE_CHECK(!path.empty(), "saveSafetensors: path is empty");
  std::vector<std::pair<std::string, Tensor>> sorted(tensors);
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < sorted.size(); ++i) {
    const auto& [name, t] = sorted[i];
    IE_CHECK(name != "__metadata__", path, ": cannot save a tensor named \"__metadata__\" (the name is reserved)");
    IE_CHECK(i == 0 || name != sorted[i - 1].first, path, ": tensor name '", name, "' is given twice");
    IE_CHECK(t.defined(), path, ": tensor '", name, "' is not a tensor (undefined or disposed)");
    IE_CHECK(t.is_contiguous(), path, ": tensor '", name, "' is not contiguous");
  }

  // Wait for queued work that produces the tensors (and surface its errors) before reading them.
  std::set<std::pair<int, int>> synced;
  for (const auto& entry : sorted) {
    Device d = entry.second.device();
    if (synced.insert({int(d.type), d.index}).second) stream_for(d).sync();
  }

  const std::string header = build_header(sorted, metadata);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));

  TempFile out(path);
  out.write(len, 8);
  out.write(header.data(), header.size());
  std::vector<uint8_t> staging;
  for (const auto& [name, t] : sorted) {
    if (t.device().is_cpu()) {
      out.write(t.raw(), t.nbytes());
    } else {
      staging.resize(t.nbytes());
      ops::copy_to_host(t, staging.data());
      out.write(staging.data(), staging.size());
    }
  }
  out.commit();
}

}  // namespace ie::safetensors
