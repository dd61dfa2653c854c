// Reading safetensors: header validation, single files and sharded index files, tensor loading.
#include "ie/safetensors.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "ie/cuda.h"
#include "ie/error.h"
#include "io/decode.h"
#include "io/json.h"
#include "io/mapped_file.h"

namespace ie::safetensors {

namespace {

struct DTypeRow {
  FileDType type;
  const char* tag;
  const char* name;
  size_t size;
  bool is_float;
};
constexpr DTypeRow kDTypes[] = {
    {FileDType::F64, "F64", "float64", 8, true},  {FileDType::F32, "F32", "float32", 4, true},
    {FileDType::F16, "F16", "float16", 2, true},  {FileDType::BF16, "BF16", "bfloat16", 2, true},
    {FileDType::I64, "I64", "int64", 8, false},   {FileDType::I32, "I32", "int32", 4, false},
    {FileDType::I16, "I16", "int16", 2, false},   {FileDType::I8, "I8", "int8", 1, false},
    {FileDType::U8, "U8", "uint8", 1, false},     {FileDType::BOOL, "BOOL", "bool", 1, false},
};
const DTypeRow& row(FileDType t) { return kDTypes[int(t)]; }

// A header larger than this is not a checkpoint header (real ones are well under 1 MiB).
constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

std::string known_tags() {
  std::string s;
  for (const DTypeRow& r : kDTypes) s += std::string(s.empty() ? "" : ", ") + r.tag;
  return s;
}

// How a JSON value is shown in a message: numbers and strings as written, others by type.
std::string literal(const json::Value& v) {
  switch (v.type) {
    case json::Type::Number: return v.text;
    case json::Type::String: return "\"" + v.text + "\"";
    case json::Type::Array: {
      std::string s = "[";
      for (size_t i = 0; i < v.items.size(); ++i) s += (i ? ", " : "") + literal(v.items[i]);
      return s + "]";
    }
    default: return json::type_name(v.type);
  }
}

bool is_uint(const json::Value& v) { return v.type == json::Type::Number && v.is_int && v.integer >= 0; }

std::string describe(FileDType t, const Shape& shape) { return row(t).name + shape_str(shape); }

// One parsed and validated file of the reader.
struct FileEntry {
  std::unique_ptr<io::MappedFile> file;
  uint64_t data_start = 0;  // 8 + header length
};

json::Value parse_json(const std::string& text, const std::string& path, const char* what, uint64_t base) {
  try {
    return json::parse(text);
  } catch (const json::ParseError& e) {
    fail(path, ": ", what, " is not valid JSON: ", e.what(), " (at byte ", base + e.offset, ")");
  }
}

// Reads and validates the header of `f`; appends its tensors (tagged with file index `index`).
FileEntry parse_file(std::unique_ptr<io::MappedFile> f, int index, std::vector<TensorInfo>* out,
                     std::map<std::string, std::string>* metadata) {
  const std::string& path = f->path();
  const uint64_t size = f->size();
  if (size == 0) fail(path, ": file is empty (a safetensors file starts with an 8-byte header length)");
  if (size < 8)
    fail(path, ": file is ", size, " bytes, too short for a safetensors file (it starts with an 8-byte header length)");
  uint8_t len_bytes[8];
  const uint8_t* lp = f->read(0, 8, len_bytes);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lp[i];
  if (n < 2) fail(path, ": header length is ", n, " bytes; a safetensors header is a JSON object (at least 2 bytes)");
  if (n > kMaxHeaderBytes)
    fail(path, ": header length ", n, " exceeds the 100 MiB limit: this is not a safetensors file, or it is corrupt");
  if (n > size - 8)
    fail(path, ": header length ", n, " exceeds the file size (", size,
         " bytes): the file is truncated or not a safetensors file");

  std::string text(size_t(n), '\0');
  const uint8_t* hp = f->read(8, size_t(n), text.data());
  if (hp != reinterpret_cast<const uint8_t*>(text.data())) std::memcpy(text.data(), hp, size_t(n));
  json::Value header = parse_json(text, path, "header", 8);
  if (header.type != json::Type::Object)
    fail(path, ": header must be a JSON object {name: {dtype, shape, data_offsets}}, got ", json::type_name(header.type));

  const uint64_t data_size = size - 8 - n;
  size_t first = out->size();
  for (size_t k = 0; k < header.keys.size(); ++k) {
    const std::string& name = header.keys[k];
    const json::Value& e = header.items[k];
    if (name == "__metadata__") {
      IE_CHECK(e.type == json::Type::Object, path, ": \"__metadata__\" must be an object of strings, got ",
               json::type_name(e.type));
      for (size_t m = 0; m < e.keys.size(); ++m) {
        IE_CHECK(e.items[m].type == json::Type::String, path, ": \"__metadata__\" must map strings to strings, but '",
                 e.keys[m], "' is ", json::type_name(e.items[m].type));
        (*metadata)[e.keys[m]] = e.items[m].text;
      }
      continue;
    }
    const std::string at = path + ": tensor '" + name + "'";
    IE_CHECK(e.type == json::Type::Object, at, " must be an object {dtype, shape, data_offsets}, got ",
             json::type_name(e.type));
    for (const std::string& key : e.keys)
      IE_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", at, " has an unknown field \"", key,
               "\" (expected dtype, shape, data_offsets)");
    const json::Value* dt = e.find("dtype");
    const json::Value* sh = e.find("shape");
    const json::Value* off = e.find("data_offsets");
    IE_CHECK(dt && sh && off, at, " lacks \"", !dt ? "dtype" : !sh ? "shape" : "data_offsets", "\"");

    TensorInfo info;
    info.name = name;
    info.file = index;
    IE_CHECK(dt->type == json::Type::String, at, " has dtype ", literal(*dt), "; expected a string such as \"F32\"");
    IE_CHECK(file_dtype_from_tag(dt->text, &info.dtype), at, " has dtype '", dt->text,
             "', which instructedit cannot read (supported: ", known_tags(), ")");

    IE_CHECK(sh->type == json::Type::Array, at, " has shape ", literal(*sh), "; expected an array of integers");
    for (const json::Value& d : sh->items)
      IE_CHECK(is_uint(d), at, " has shape ", literal(*sh), ": dimensions must be non-negative integers");
    for (const json::Value& d : sh->items) info.shape.push_back(d.integer);

    IE_CHECK(off->type == json::Type::Array && off->items.size() == 2 && is_uint(off->items[0]) &&
                 is_uint(off->items[1]),
             at, " has data_offsets ", literal(*off), "; expected [begin, end] with non-negative integers");
    info.begin = uint64_t(off->items[0].integer);
    info.end = uint64_t(off->items[1].integer);
    IE_CHECK(info.end >= info.begin, at, " has data_offsets [", info.begin, ", ", info.end, "]: end is before begin");

    // Byte size of the shape, with overflow checks (a hostile shape must not wrap around).
    uint64_t need = row(info.dtype).size;
    bool empty = std::find(info.shape.begin(), info.shape.end(), 0) != info.shape.end();
    for (int64_t d : info.shape) {
      if (empty) break;
      IE_CHECK(need <= uint64_t(INT64_MAX) / uint64_t(d), at, " has shape ", shape_str(info.shape),
               ", too large to be a tensor");
      need *= uint64_t(d);
    }
    if (empty) need = 0;
    const uint64_t have = info.end - info.begin;
    IE_CHECK(have == need, at, " has data_offsets [", info.begin, ", ", info.end, "] (", have, " bytes) but ",
             describe(info.dtype, info.shape), " needs ", need, " bytes");
    out->push_back(std::move(info));
  }

  // The data section must hold the furthest-reaching tensor (reported, so a cut-off download says
  // how many bytes are missing).
  const TensorInfo* last = nullptr;
  for (size_t i = first; i < out->size(); ++i)
    if (!last || (*out)[i].end > last->end) last = &(*out)[i];
  if (last && last->end > data_size)
    fail(path, ": file is truncated or its offsets are wrong: tensor '", last->name, "' needs bytes [", last->begin,
         ", ", last->end, ") of the data section, which holds only ", data_size, " bytes (the file is ", size,
         " bytes; its header needs at least ", 8 + n + last->end, ")");

  // No two tensors may share bytes: sort by begin, compare each with the furthest end so far.
  std::vector<const TensorInfo*> by_offset;
  for (size_t i = first; i < out->size(); ++i)
    if ((*out)[i].end > (*out)[i].begin) by_offset.push_back(&(*out)[i]);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const TensorInfo* reach = nullptr;
  for (const TensorInfo* t : by_offset) {
    if (reach && t->begin < reach->end)
      fail(path, ": tensors '", reach->name, "' [", reach->begin, ", ", reach->end, "] and '", t->name, "' [",
           t->begin, ", ", t->end, "] overlap in the data section");
    if (!reach || t->end > reach->end) reach = t;
  }
  return FileEntry{std::move(f), 8 + n};
}

std::string dirname_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

// "a/../b", "../b", "a/.." (a shard path must stay inside the checkpoint's directory).
bool has_parent_component(const std::string& p) {
  size_t start = 0;
  for (;;) {
    size_t slash = p.find('/', start);
    if (p.compare(start, slash == std::string::npos ? std::string::npos : slash - start, "..") == 0) return true;
    if (slash == std::string::npos) return false;
    start = slash + 1;
  }
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

// ---- dtype tags -------------------------------------------------------------------------------

const char* file_dtype_tag(FileDType t) { return row(t).tag; }
const char* file_dtype_name(FileDType t) { return row(t).name; }
size_t file_dtype_size(FileDType t) { return row(t).size; }
bool file_dtype_is_float(FileDType t) { return row(t).is_float; }

bool file_dtype_from_tag(const std::string& tag, FileDType* out) {
  for (const DTypeRow& r : kDTypes)
    if (tag == r.tag) {
      *out = r.type;
      return true;
    }
  return false;
}

FileDType file_dtype_of(DType t) {
  switch (t) {
    case DType::F32: return FileDType::F32;
    case DType::F16: return FileDType::F16;
    case DType::BF16: return FileDType::BF16;
    case DType::I32: return FileDType::I32;
  }
  return FileDType::F32;
}

DType load_dtype(FileDType stored, DType float_dtype) {
  IE_CHECK(float_dtype != DType::I32,
           "safetensors: the float dtype must be float32, float16 or bfloat16 (integer tensors always load as int32)");
  return file_dtype_is_float(stored) ? float_dtype : DType::I32;
}

// ---- Reader -----------------------------------------------------------------------------------

struct Reader::Impl {
  std::string path;
  std::vector<FileEntry> files;
  std::vector<TensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;

  void open_index(const OpenOptions& options);
  void sort_and_check_unique() {
    std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
    for (size_t i = 1; i < tensors.size(); ++i)
      IE_CHECK(tensors[i].name != tensors[i - 1].name, path, ": tensor '", tensors[i].name, "' appears twice");
  }
};

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

void Reader::Impl::open_index(const OpenOptions& options) {
  io::MappedFile idx(path, false);
  IE_CHECK(idx.size() <= kMaxHeaderBytes, path, ": index file is ", idx.size(), " bytes, larger than the 100 MiB limit");
  std::string text(size_t(idx.size()), '\0');
  idx.read(0, text.size(), text.data());
  json::Value root = parse_json(text, path, "index file", 0);
  IE_CHECK(root.type == json::Type::Object, path, ": index must be a JSON object {\"metadata\", \"weight_map\"}, got ",
           json::type_name(root.type));
  const json::Value* map = root.find("weight_map");
  IE_CHECK(map && map->type == json::Type::Object, path,
           ": index has no \"weight_map\" object ({tensor name: file name}); is this a sharded checkpoint index?");
  if (const json::Value* meta = root.find("metadata"); meta && meta->type == json::Type::Object) {
    for (size_t i = 0; i < meta->keys.size(); ++i) {
      const json::Value& v = meta->items[i];
      if (v.type == json::Type::String || v.type == json::Type::Number) metadata[meta->keys[i]] = v.text;
      else if (v.type == json::Type::Bool) metadata[meta->keys[i]] = v.boolean ? "true" : "false";
    }
  }

  // Open each shard once, in name order; tensors come from the shard the weight map names.
  std::map<std::string, int> shard_index;
  std::vector<std::vector<TensorInfo>> shard_tensors;
  for (size_t i = 0; i < map->keys.size(); ++i) {
    const std::string& name = map->keys[i];
    const json::Value& v = map->items[i];
    IE_CHECK(v.type == json::Type::String, path, ": weight_map entry '", name, "' must be a file name, got ",
             json::type_name(v.type));
    const std::string& file = v.text;
    IE_CHECK(!file.empty() && file[0] != '/' && !has_parent_component(file), path, ": weight_map entry '",
             name, "' names '", file, "'; shard files must be relative paths inside the checkpoint directory");
    shard_index.emplace(file, -1);
  }
  for (auto& [file, idx_out] : shard_index) {
    idx_out = int(files.size());
    std::unique_ptr<io::MappedFile> f;
    try {
      f = std::make_unique<io::MappedFile>(dirname_of(path) + file, options.mmap);
    } catch (const Error& e) {
      fail(path, ": cannot open shard '", file, "' listed in its weight_map: ", e.what());
    }
    shard_tensors.emplace_back();
    std::map<std::string, std::string> ignored;  // shards' own metadata: the index's is the checkpoint's
    files.push_back(parse_file(std::move(f), idx_out, &shard_tensors.back(), &ignored));
  }
  for (auto& ts : shard_tensors)
    std::sort(ts.begin(), ts.end(), [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  for (size_t i = 0; i < map->keys.size(); ++i) {
    const std::string& name = map->keys[i];
    const std::string& file = map->items[i].text;
    const auto& ts = shard_tensors[size_t(shard_index[file])];
    auto it = std::lower_bound(ts.begin(), ts.end(), name, [](const TensorInfo& t, const std::string& n) { return t.name < n; });
    IE_CHECK(it != ts.end() && it->name == name, path, ": tensor '", name, "' is listed in shard '", file,
             "', but that file has no such tensor");
    tensors.push_back(*it);
  }
}

Reader Reader::open(const std::string& path, const OpenOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  if (ends_with(path, ".json")) {
    impl->open_index(options);
  } else {
    auto f = std::make_unique<io::MappedFile>(path, options.mmap);
    impl->files.push_back(parse_file(std::move(f), 0, &impl->tensors, &impl->metadata));
  }
  impl->sort_and_check_unique();
  return Reader(std::move(impl));
}

const std::string& Reader::path() const { return impl_->path; }
const std::vector<TensorInfo>& Reader::tensors() const { return impl_->tensors; }
const std::map<std::string, std::string>& Reader::metadata() const { return impl_->metadata; }

std::vector<std::string> Reader::files() const {
  std::vector<std::string> out;
  for (const FileEntry& f : impl_->files) out.push_back(f.file->path());
  return out;
}

const TensorInfo* Reader::find(const std::string& name) const {
  const auto& ts = impl_->tensors;
  auto it = std::lower_bound(ts.begin(), ts.end(), name, [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  return it != ts.end() && it->name == name ? &*it : nullptr;
}

// The stored name most like `name` (longest common prefix among its sorted neighbours), for hints.
static std::string closest_name(const std::vector<TensorInfo>& ts, const std::string& name) {
  auto it = std::lower_bound(ts.begin(), ts.end(), name, [](const TensorInfo& t, const std::string& n) { return t.name < n; });
  auto common = [&](const std::string& s) {
    size_t k = 0;
    while (k < s.size() && k < name.size() && s[k] == name[k]) ++k;
    return k;
  };
  std::string best;
  size_t best_len = 0;
  for (auto c : {it, it == ts.begin() ? ts.end() : std::prev(it)}) {
    if (c != ts.end() && common(c->name) > best_len) {
      best_len = common(c->name);
      best = c->name;
    }
  }
  return best_len > 0 ? best : std::string();
}

Tensor Reader::load(const std::string& name, DType float_dtype, Device device) const {
  const TensorInfo* info = find(name);
  if (!info) {
    std::string hint = closest_name(impl_->tensors, name);
    fail(impl_->path, ": no tensor named '", name, "' (the checkpoint holds ", impl_->tensors.size(), " tensors",
         hint.empty() ? std::string() : "; the closest name is '" + hint + "'", ")");
  }
  DType dtype = load_dtype(info->dtype, float_dtype);
  const FileEntry& fe = impl_->files[size_t(info->file)];
  Tensor dev = device.is_cpu() ? Tensor() : Tensor::empty(info->shape, dtype, device);  // checks the device first
  Tensor host = Tensor::empty(info->shape, dtype, Device{});
  // The tensor is new and no queued work refers to it: fill it synchronously on this thread.
  io::decode(*fe.file, fe.data_start + info->begin, info->dtype, host.numel(), dtype, host.raw(),
             fe.file->path() + ": tensor '" + name + "'");
  if (device.is_cpu()) return host;
  cuda::copy_h2d(dev.raw(), host.raw(), host.nbytes(), device.index);
  return dev;
}

}  // namespace ie::safetensors
