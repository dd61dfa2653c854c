// Safetensors I/O: round trips for every dtype, the reference fixtures, sharded checkpoints, the
// JSON parser, and a sweep of corrupt files (each must be one clear ie::Error, never a crash).
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "ie/error.h"
#include "ie/half.h"
#include "ie/ops.h"
#include "ie/safetensors.h"
#include "io/json.h"

using ie::Tensor;
namespace ops = ie::ops;
namespace st = ie::safetensors;

namespace {

template <typename F>
void expect_error(F fn, const std::string& want, const std::string& also = "") {
  try {
    fn();
  } catch (const ie::Error& e) {
    std::string msg = e.what();
    IE_EXPECT(msg.find(want) != std::string::npos, "expected '" + want + "' in: " + msg);
    if (!also.empty()) IE_EXPECT(msg.find(also) != std::string::npos, "expected '" + also + "' in: " + msg);
    return;
  }
  IE_EXPECT(false, "no error for: " + want);
}

// A fresh directory under $TMPDIR, removed (with its files) at scope exit.
struct TempDir {
  std::string path;
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ie-st-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path = mkdtemp(buf.data()) ? buf.data() : "";
  }
  ~TempDir() {
    for (const std::string& f : list()) std::remove((path + "/" + f).c_str());
    rmdir(path.c_str());
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
      closedir(d);
    }
    return out;
  }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}
std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char(uint8_t(v >> (8 * i)));
  return s;
}
// A safetensors file from a header text (used as is, no padding) and a data section.
std::string st_file(const std::string& header, const std::string& data) { return le64(header.size()) + header + data; }

template <typename T>
std::string raw_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <typename T>
std::vector<T> read_as(const Tensor& t) {
  std::vector<T> v(size_t(t.numel()));
  if (!v.empty()) ops::copy_to_host(t, v.data());  // an empty vector's data() may be null
  return v;
}
std::vector<uint8_t> bytes_of(const Tensor& t) {
  std::vector<uint8_t> v(t.nbytes());
  if (!v.empty()) ops::copy_to_host(t, v.data());
  return v;
}

std::string shared_dir() {
  const char* env = std::getenv("IE_SHARED_DIR");
  return env && *env ? env : std::string(IE_SOURCE_DIR) + "/../shared";
}
bool is_dir(const std::string& p) {
  struct stat s;
  return stat(p.c_str(), &s) == 0 && S_ISDIR(s.st_mode);
}

}  // namespace

IE_TEST(safetensors, round_trip_every_dtype_with_metadata) {
  TempDir dir;
  Tensor f32 = ops::randn({3, 5, 7}, 11, 0, 0, 1, ie::DType::F32, {});
  Tensor f16 = ops::randn({33}, 12, 0, 0, 1, ie::DType::F16, {});  // odd byte count: later offsets unaligned
  Tensor bf16 = ops::randn({4, 9}, 13, 0, 0, 1, ie::DType::BF16, {});
  std::vector<int32_t> iv = {0, -1, 2147483647, -2147483647 - 1, 42};
  Tensor i32 = ops::from_host(iv.data(), iv.size() * 4, {5}, ie::DType::I32, {});
  Tensor scalar = ops::full({}, 2.5, ie::DType::F32, {});
  Tensor empty = ops::zeros({0, 3}, ie::DType::F32, {});
  std::vector<std::pair<std::string, Tensor>> all = {{"w.f32", f32},   {"a.f16", f16},  {"b.bf16", bf16},
                                                      {"ids", i32},     {"scalar", scalar}, {"empty", empty}};
  std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n é"}};
  const std::string path = dir / "model.safetensors";
  st::save(path, all, meta);
  IE_EXPECT(dir.list().size() == 1, "only the target file remains (no temp files)");

  // Layout as the reference writer makes it: 8-byte aligned header, sorted names, packed offsets.
  std::string raw = read_bytes(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  IE_EXPECT((8 + n) % 8 == 0, "data section starts 8-byte aligned");
  std::string header = raw.substr(8, size_t(n));
  IE_EXPECT(header.find("{\"__metadata__\":{\"format\":\"pt\"") == 0, "metadata first: " + header);
  IE_EXPECT(header.find("\"a.f16\"") < header.find("\"b.bf16\"") && header.find("\"b.bf16\"") < header.find("\"empty\"") &&
                header.find("\"ids\"") < header.find("\"scalar\"") && header.find("\"scalar\"") < header.find("\"w.f32\""),
            "names sorted: " + header);
  IE_EXPECT(header.find("\"a.f16\":{\"dtype\":\"F16\",\"shape\":[33],\"data_offsets\":[0,66]}") != std::string::npos,
            header);
  IE_EXPECT(raw.size() == 8 + n + 66 + 72 + 0 + 20 + 4 + 420, "file size");

  for (bool use_mmap : {true, false}) {
    iet::context() = use_mmap ? "mmap" : "pread";
    st::Reader r = st::Reader::open(path, {use_mmap});
    IE_EXPECT(r.tensors().size() == all.size(), "tensor count");
    IE_EXPECT(r.metadata() == meta, "metadata round trip (escapes and UTF-8)");
    for (const auto& [name, t] : all) {
      const st::TensorInfo* info = r.find(name);
      IE_EXPECT(info && info->shape == t.shape(), name + " shape");
      IE_EXPECT(info && info->dtype == st::file_dtype_of(t.dtype()), name + " dtype");
      Tensor back = r.load(name, t.dtype() == ie::DType::I32 ? ie::DType::F32 : t.dtype());
      IE_EXPECT(back.dtype() == t.dtype() && back.shape() == t.shape(), name + " loads as " + back.desc());
      IE_EXPECT(bytes_of(back) == bytes_of(t), name + " bytes identical");
    }
    // Conversions on load: float16/bfloat16 -> float32 exact; float32 -> float16 rounds like cast().
    IE_EXPECT(bytes_of(r.load("a.f16", ie::DType::F32)) == bytes_of(ops::cast(f16, ie::DType::F32)), "f16 -> f32");
    IE_EXPECT(bytes_of(r.load("b.bf16", ie::DType::F32)) == bytes_of(ops::cast(bf16, ie::DType::F32)), "bf16 -> f32");
    IE_EXPECT(bytes_of(r.load("w.f32", ie::DType::F16)) == bytes_of(ops::cast(f32, ie::DType::F16)), "f32 -> f16");
    IE_EXPECT(bytes_of(r.load("w.f32", ie::DType::BF16)) == bytes_of(ops::cast(f32, ie::DType::BF16)), "f32 -> bf16");
    IE_EXPECT(bytes_of(r.load("a.f16", ie::DType::BF16)) == bytes_of(ops::cast(ops::cast(f16, ie::DType::F32), ie::DType::BF16)),
              "f16 -> bf16 (one rounding, through float32)");
    expect_error([&] { r.load("w.f32", ie::DType::I32); }, "integer tensors always load as int32");
    expect_error([&] { r.load("w.f23"); }, "no tensor named 'w.f23'", "closest name is 'w.f32'");
  }
  iet::context().clear();

  // Saving over an existing file replaces it.
  st::save(path, {{"only", scalar}});
  IE_EXPECT(st::Reader::open(path).tensors().size() == 1, "overwritten");
  IE_EXPECT(dir.list().size() == 1, "no temp files after overwrite");
}

IE_TEST(safetensors, reads_every_stored_dtype_and_unaligned_offsets) {
  TempDir dir;
  std::vector<double> f64 = {1.5, -2.25, 1e300, 3.0000001};
  std::vector<int64_t> i64 = {10, 500, -7, 2147483647};
  std::vector<int16_t> i16 = {-32768, 5};
  std::string i8 = {char(-128), char(127)}, u8 = {char(255), char(0)}, b = {char(1), char(0), char(2)};
  std::vector<float> f32 = {1, 2, 3};
  // u8 "a" first so that every later tensor starts at an odd offset.
  std::string data = u8 + raw_of(f32) + raw_of(f64) + raw_of(i64) + raw_of(i16) + i8 + b;
  size_t o = 0;
  auto entry = [&](const char* name, const char* tag, const std::string& shape, size_t bytes) {
    std::string s = std::string("\"") + name + "\":{\"dtype\":\"" + tag + "\",\"shape\":" + shape +
                    ",\"data_offsets\":[" + std::to_string(o) + "," + std::to_string(o + bytes) + "]}";
    o += bytes;
    return s;
  };
  std::string h = "{" + entry("a", "U8", "[2]", 2);  // one call per statement: offsets accumulate in order
  h += "," + entry("f32", "F32", "[3]", 12);
  h += "," + entry("f64", "F64", "[2,2]", 32);
  h += "," + entry("i64", "I64", "[4]", 32);
  h += "," + entry("i16", "I16", "[2]", 4);
  h += "," + entry("i8", "I8", "[2]", 2);
  h += "," + entry("b", "BOOL", "[3]", 3) + "}";
  const std::string path = dir / "types.safetensors";
  write_bytes(path, st_file(h, data));
  for (bool use_mmap : {true, false}) {
    iet::context() = use_mmap ? "mmap" : "pread";
    st::Reader r = st::Reader::open(path, {use_mmap});
    IE_EXPECT(read_as<float>(r.load("f32")) == f32, "unaligned float32");
    IE_EXPECT(read_as<float>(r.load("f64")) == std::vector<float>({1.5f, -2.25f, INFINITY, 3.0000001f}), "float64 -> float32");
    Tensor t64 = r.load("i64");
    IE_EXPECT(t64.dtype() == ie::DType::I32 && read_as<int32_t>(t64) == std::vector<int32_t>({10, 500, -7, 2147483647}),
              "int64 -> int32");
    IE_EXPECT(read_as<int32_t>(r.load("i16")) == std::vector<int32_t>({-32768, 5}), "int16");
    IE_EXPECT(read_as<int32_t>(r.load("i8")) == std::vector<int32_t>({-128, 127}), "int8");
    IE_EXPECT(read_as<int32_t>(r.load("a")) == std::vector<int32_t>({255, 0}), "uint8");
    IE_EXPECT(read_as<int32_t>(r.load("b")) == std::vector<int32_t>({1, 0, 1}), "bool");
    IE_EXPECT(std::string(st::file_dtype_name(r.find("b")->dtype)) == "bool", "dtype names");
  }
  iet::context().clear();

  // An int64 outside int32 is an error naming the tensor and the value, not a silent wrap.
  std::vector<int64_t> big = {1, 3000000000LL};
  write_bytes(dir / "big.safetensors",
              st_file("{\"t\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", raw_of(big)));
  expect_error([&] { st::Reader::open(dir / "big.safetensors").load("t"); }, "tensor 't': value 3000000000 at element 1 does not fit in int32");
}

IE_TEST(safetensors, large_tensor_conversion_matches_cast) {
  // Several parallel blocks (plus a ragged tail): float32 on disk, loaded as float16 and bfloat16.
  TempDir dir;
  Tensor x = ops::randn({100003}, 21, 0, 0, 3, ie::DType::F32, {});
  st::save(dir / "big.safetensors", {{"x", x}});
  for (bool use_mmap : {true, false}) {
    st::Reader r = st::Reader::open(dir / "big.safetensors", {use_mmap});
    IE_EXPECT(bytes_of(r.load("x", ie::DType::F16)) == bytes_of(ops::cast(x, ie::DType::F16)), "f32 -> f16");
    IE_EXPECT(bytes_of(r.load("x", ie::DType::BF16)) == bytes_of(ops::cast(x, ie::DType::BF16)), "f32 -> bf16");
    IE_EXPECT(bytes_of(r.load("x")) == bytes_of(x), "f32 copy");
  }
}

IE_TEST(safetensors, reference_fixture_matches_manifest) {
  const std::string shared = shared_dir();
  const std::string dir = shared + "/parity/unet_tiny2";
  if (!is_dir(dir)) {
    std::printf("  skipped: %s not found (set IE_SHARED_DIR to the shared directory)\n", dir.c_str());
    return;
  }
  // Python's json module wrote one "-Infinity" (a scheduler config value), which is not JSON.
  std::string text = read_bytes(shared + "/parity/manifest.json");
  for (size_t at; (at = text.find("-Infinity")) != std::string::npos;) text.replace(at, 9, "null");
  ie::json::Value manifest = ie::json::parse(text);
  const ie::json::Value* expect = manifest.find("fixtures")->find("unet_tiny2")->find("files")->find("unet.safetensors")->find("tensors");
  IE_EXPECT(expect && expect->keys.size() == 208, "manifest lists 208 tensors");

  st::Reader r = st::Reader::open(dir + "/unet.safetensors");
  IE_EXPECT(r.tensors().size() == 208, "208 tensors, got " + std::to_string(r.tensors().size()));
  for (size_t i = 0; expect && i < expect->keys.size(); ++i) {
    const st::TensorInfo* info = r.find(expect->keys[i]);
    IE_EXPECT(info != nullptr, "missing " + expect->keys[i]);
    if (!info) continue;
    ie::Shape want;
    for (const auto& d : expect->items[i].find("shape")->items) want.push_back(d.integer);
    IE_EXPECT(info->shape == want, expect->keys[i] + " shape " + ie::shape_str(info->shape));
    IE_EXPECT(info->dtype == st::FileDType::F32, expect->keys[i] + " is F32");
  }
  // Values: conv_in.bias is the first tensor of the data section ([0, 128)); compare with the bytes.
  std::string raw = read_bytes(dir + "/unet.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  std::vector<float> want(32);
  std::memcpy(want.data(), raw.data() + 8 + n, 128);
  IE_EXPECT(read_as<float>(r.load("conv_in.bias")) == want, "conv_in.bias values");

  // Integer timesteps are I64 in the inputs file.
  st::Reader in = st::Reader::open(dir + "/inputs.safetensors");
  IE_EXPECT(in.find("timestep") && in.find("timestep")->dtype == st::FileDType::I64, "timestep is I64");
  IE_EXPECT(read_as<int32_t>(in.load("timestep")) == std::vector<int32_t>({10, 500}), "timesteps [10, 500]");
}

IE_TEST(safetensors, sharded_index) {
  TempDir dir;
  Tensor a = ops::full({2, 2}, 1.0, ie::DType::F32, {});
  Tensor b = ops::full({3}, 2.0, ie::DType::F16, {});
  Tensor c = ops::full({1}, 3.0, ie::DType::F32, {});
  st::save(dir / "model-00001-of-00002.safetensors", {{"a", a}, {"c", c}});
  st::save(dir / "model-00002-of-00002.safetensors", {{"b", b}});
  const std::string index = dir / "model.safetensors.index.json";
  write_bytes(index, R"({"metadata": {"total_size": 26, "format": "pt"},
    "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
                   "c": "model-00001-of-00002.safetensors"}})");
  st::Reader r = st::Reader::open(index);
  IE_EXPECT(r.tensors().size() == 3 && r.files().size() == 2, "3 tensors in 2 files");
  IE_EXPECT(r.metadata().at("total_size") == "26" && r.metadata().at("format") == "pt", "index metadata");
  IE_EXPECT(read_as<float>(r.load("b")) == std::vector<float>({2, 2, 2}), "tensor from shard 2");
  IE_EXPECT(read_as<float>(r.load("c")) == std::vector<float>({3}), "tensor from shard 1");

  write_bytes(index, R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "z": "model-00003-of-00003.safetensors"}})");
  expect_error([&] { st::Reader::open(index); }, "cannot open shard 'model-00003-of-00003.safetensors'", "no such file");
  write_bytes(index, R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}})");
  expect_error([&] { st::Reader::open(index); }, "tensor 'b' is listed in shard 'model-00001-of-00002.safetensors', but that file has no such tensor");
  write_bytes(index, R"({"weight_map": {"a": "../model.safetensors"}})");
  expect_error([&] { st::Reader::open(index); }, "must be relative paths inside the checkpoint directory");
  write_bytes(index, R"({"weight_map": {"a": "sub/../../model.safetensors"}})");
  expect_error([&] { st::Reader::open(index); }, "must be relative paths inside the checkpoint directory");
  write_bytes(index, R"({"metadata": {}})");
  expect_error([&] { st::Reader::open(index); }, "no \"weight_map\"");
  expect_error([&] { st::Reader::open(dir / "absent.safetensors.index.json"); }, "no such file");
}

IE_TEST(safetensors, corrupt_files_are_clear_errors) {
  TempDir dir;
  const std::string p = dir / "bad.safetensors";
  auto open_bytes = [&](const std::string& bytes) {
    write_bytes(p, bytes);
    st::Reader::open(p);
  };
  auto entry = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return "{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}";
  };
  auto one = [&](const std::string& e, size_t data_bytes) {
    return st_file("{\"t\":" + e + "}", std::string(data_bytes, '\0'));
  };
  const std::string ok = entry("F32", "[2]", "[0,8]");

  expect_error([&] { open_bytes(""); }, "file is empty", p);
  expect_error([&] { open_bytes(std::string("\x10\0\0", 3)); }, "file is 3 bytes, too short");
  expect_error([&] { open_bytes(le64(1) + "{"); }, "header length is 1 bytes");
  expect_error([&] { open_bytes(le64(4096) + "{}"); }, "header length 4096 exceeds the file size (10 bytes)");
  expect_error([&] { open_bytes(le64(uint64_t(1) << 40) + "{}"); }, "exceeds the 100 MiB limit");
  expect_error([&] { open_bytes(st_file("{\"t\": nope}", "")); }, "header is not valid JSON");
  expect_error([&] { open_bytes(st_file("{\"t\":" + ok + "}x", std::string(8, '\0'))); }, "after the end of the JSON value");
  expect_error([&] { open_bytes(st_file("{\"t\":" + ok + ",\"t\":" + ok + "}", std::string(8, '\0'))); }, "duplicate key \"t\"");
  expect_error([&] { open_bytes(st_file("[1, 2]", "")); }, "header must be a JSON object");
  expect_error([&] { open_bytes(st_file("{\"\xff\":1}", "")); }, "invalid UTF-8");
  expect_error([&] { open_bytes(one(entry("F8_E4M3", "[2]", "[0,2]"), 2)); }, "tensor 't' has dtype 'F8_E4M3', which instructedit cannot read", "BOOL");
  expect_error([&] { open_bytes(one(entry("F32", "[2,-1]", "[0,8]"), 8)); }, "has shape [2, -1]: dimensions must be non-negative integers");
  expect_error([&] { open_bytes(one(entry("F32", "[2.5]", "[0,10]"), 10)); }, "has shape [2.5]: dimensions must be non-negative");
  expect_error([&] { open_bytes(one(entry("F32", "[\"2\"]", "[0,8]"), 8)); }, "dimensions must be non-negative");
  expect_error([&] { open_bytes(one(entry("F32", "[4294967296,4294967296,4294967296]", "[0,8]"), 8)); }, "too large to be a tensor");
  expect_error([&] { open_bytes(one(entry("F32", "[32,8,3,3]", "[0,100]"), 100)); },
               "tensor 't' has data_offsets [0, 100] (100 bytes) but float32[32, 8, 3, 3] needs 9216 bytes");
  expect_error([&] { open_bytes(one(entry("F32", "[2]", "[8,0]"), 8)); }, "end is before begin");
  expect_error([&] { open_bytes(one(entry("F32", "[2]", "[0,-8]"), 8)); }, "expected [begin, end] with non-negative integers");
  expect_error([&] { open_bytes(one(entry("F32", "[2]", "[0]"), 8)); }, "expected [begin, end]");
  expect_error([&] { open_bytes(one(entry("F32", "[2]", "[100,108]"), 8)); }, "tensor 't' needs bytes [100, 108) of the data section, which holds only 8 bytes");
  expect_error([&] { open_bytes(one(ok, 5)); }, "file is truncated", "holds only 5 bytes");
  expect_error([&] { open_bytes(st_file("{\"a\":" + entry("F32", "[4]", "[0,16]") + ",\"b\":" + entry("F32", "[2]", "[8,16]") + "}",
                                        std::string(16, '\0'))); },
               "tensors 'a' [0, 16] and 'b' [8, 16] overlap");
  expect_error([&] { open_bytes(one("{\"dtype\":\"F32\",\"shape\":[2]}", 8)); }, "lacks \"data_offsets\"");
  expect_error([&] { open_bytes(one("{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}", 8)); }, "unknown field \"x\"");
  expect_error([&] { open_bytes(one("[]", 0)); }, "tensor 't' must be an object");
  expect_error([&] { open_bytes(st_file("{\"__metadata__\":{\"a\":1}}", "")); }, "\"__metadata__\" must map strings to strings, but 'a' is a number");
  expect_error([&] { st::Reader::open(dir / "missing.safetensors"); }, "missing.safetensors: no such file");
  expect_error([&] { st::Reader::open(dir.path); }, "is a directory");

  // Zero-size tensors may share an offset; a valid file with gaps between tensors is accepted.
  open_bytes(st_file("{\"e\":" + entry("F32", "[0]", "[0,0]") + ",\"f\":" + entry("F32", "[0,3]", "[0,0]") +
                         ",\"g\":" + entry("F32", "[1]", "[4,8]") + "}", std::string(8, '\0')));
  open_bytes(st_file("{}", ""));
}

IE_TEST(safetensors, truncated_and_mutated_files_never_crash) {
  // Every prefix of a valid file is an error; every single-byte change of its header is either an
  // error or a valid file whose tensors then load (or fail cleanly, e.g. int32 range).
  TempDir dir;
  const std::string good = dir / "good.safetensors", p = dir / "m.safetensors";
  std::vector<int32_t> iv = {1, -2, 3};
  st::save(good, {{"a.weight", ops::full({2, 3}, 0.5, ie::DType::F32, {})},
                  {"b", ops::full({5}, -1.0, ie::DType::BF16, {})},
                  {"ids", ops::from_host(iv.data(), 12, {3}, ie::DType::I32, {})}},
           {{"format", "pt"}});
  const std::string bytes = read_bytes(good);
  int errors = 0, opened = 0;
  for (size_t len = 0; len < bytes.size(); ++len) {
    write_bytes(p, bytes.substr(0, len));
    expect_error([&] { st::Reader::open(p); }, p);
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  for (size_t i = 0; i < 8 + n; ++i) {
    for (char c : {'\0', '"', '{', ']', ',', '9', '-', ' ', '\xff'}) {
      std::string m = bytes;
      if (m[i] == c) continue;
      m[i] = c;
      write_bytes(p, m);
      try {
        st::Reader r = st::Reader::open(p, {i % 2 == 0});
        ++opened;
        for (const st::TensorInfo& t : r.tensors()) r.load(t.name, ie::DType::F16);
      } catch (const ie::Error& e) {
        ++errors;
        IE_EXPECT(std::string(e.what()).find(p) == 0, std::string("message names the file: ") + e.what());
      }
    }
  }
  IE_EXPECT(errors > 500 && opened > 10, "mutations: " + std::to_string(errors) + " errors, " + std::to_string(opened) + " opened");
}

IE_TEST(safetensors, save_is_atomic_and_reports_errors) {
  TempDir dir;
  const std::string path = dir / "keep.safetensors";
  Tensor x = ops::full({4}, 1.0, ie::DType::F32, {});
  st::save(path, {{"x", x}});
  const std::string before = read_bytes(path);

  expect_error([&] { st::save(path, {{"x", x}, {"gone", Tensor()}}); }, "tensor 'gone' is not a tensor");
  expect_error([&] { st::save(path, {{"x", x}, {"x", x}}); }, "tensor name 'x' is given twice");
  expect_error([&] { st::save(path, {{"__metadata__", x}}); }, "reserved");
  IE_EXPECT(read_bytes(path) == before, "target untouched after failed saves");
  expect_error([&] { st::save(dir / "no/such/dir/m.safetensors", {{"x", x}}); }, "the directory does not exist");
  expect_error([&] { st::save(dir.path, {{"x", x}}); }, "cannot save");
  IE_EXPECT(dir.list() == std::vector<std::string>({"keep.safetensors"}), "no temp files left behind");
}

IE_TEST(safetensors, json_parser_is_strict) {
  namespace json = ie::json;
  json::Value v = json::parse(R"( {"s": "a\u00e9\ud83d\ude00\n\"", "n": [0, -12, 9223372036854775807, 1.5, 1e3], "o": {}, "t": true, "z": null} )");
  IE_EXPECT(v.find("s")->text == "a\xc3\xa9\xf0\x9f\x98\x80\n\"", "escapes and surrogate pairs decode to UTF-8");
  const auto& n = v.find("n")->items;
  IE_EXPECT(n[1].is_int && n[1].integer == -12, "negative integer");
  IE_EXPECT(n[2].is_int && n[2].integer == INT64_MAX, "int64 max exact");
  IE_EXPECT(!n[3].is_int && n[3].number == 1.5 && !n[4].is_int && n[4].number == 1000, "non-integers");
  IE_EXPECT(!json::parse("9223372036854775808").is_int, "beyond int64 is not an integer");
  for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "-", "1.", "1e", "\"\\x\"", "\"\\ud800\"",
                          "\"\\udc00\"", "\"a", "tru", "{\"a\":1}}", "\"\x01\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\""}) {
    bool threw = false;
    try {
      json::parse(bad);
    } catch (const json::ParseError&) {
      threw = true;
    }
    IE_EXPECT(threw, std::string("must reject: ") + bad);
  }
  std::string deep(100, '[');
  try {
    json::parse(deep);
    IE_EXPECT(false, "deep nesting accepted");
  } catch (const json::ParseError& e) {
    IE_EXPECT(std::string(e.what()).find("deeper than 64") != std::string::npos, e.what());
  }
}
