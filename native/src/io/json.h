// A small strict JSON parser (RFC 8259) for file headers: safetensors headers and their sharded
// index files. Strict where a loose parser would hide a corrupt file: no trailing garbage, no
// duplicate object keys, no invalid UTF-8 or lone surrogates, a nesting limit. Integers are kept
// exactly (int64) besides their double value, so offsets beyond 2^53 are not rounded.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ie::json {

// A parse failure: what was wrong and the byte offset where it was found.
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, size_t offset) : std::runtime_error(what), offset(offset) {}
  size_t offset;
};

enum class Type : uint8_t { Null, Bool, Number, String, Array, Object };

const char* type_name(Type t);  // "a string", "an object", ... (for messages)

struct Value {
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  // Number literals without fraction or exponent that fit int64 are integers (is_int).
  bool is_int = false;
  int64_t integer = 0;
  std::string text;               // String: the decoded UTF-8; Number: the literal as written
  std::vector<std::string> keys;  // Object: keys, in file order (parallel to items)
  std::vector<Value> items;       // Array: elements; Object: values

  // Object member, or nullptr.
  const Value* find(std::string_view key) const;
};

// Parses one JSON value filling the whole text (surrounding whitespace allowed).
Value parse(std::string_view text);

}  // namespace ie::json
