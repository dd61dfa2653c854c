#include "io/json.h"

#include <cstdlib>
#include <unordered_set>

namespace ie::json {

const char* type_name(Type t) {
  switch (t) {
    case Type::Null: return "null";
    case Type::Bool: return "a boolean";
    case Type::Number: return "a number";
    case Type::String: return "a string";
    case Type::Array: return "an array";
    case Type::Object: return "an object";
  }
  return "?";
}

const Value* Value::find(std::string_view key) const {
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &items[i];
  return nullptr;
}

namespace {

// Deep enough for any header; bounded so a hostile "[[[[..." cannot exhaust the stack.
constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Value document() {
    skip_ws();
    Value v = value(0);
    skip_ws();
    if (pos_ != s_.size()) error("unexpected " + describe_here() + " after the end of the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) { throw ParseError(what, pos_); }

  std::string describe_here() const {
    if (pos_ >= s_.size()) return "end of text";
    unsigned char c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string("character '") + char(c) + "'";
    static const char* hex = "0123456789abcdef";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
  }

  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }

  void expect_literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) error("unexpected " + describe_here());
    pos_ += word.size();
  }

  Value value(int depth) {
    if (depth >= kMaxDepth) error("JSON nested deeper than 64 levels");
    if (pos_ >= s_.size()) error("unexpected end of text, expected a value");
    Value v;
    switch (s_[pos_]) {
      case '{': object(v, depth); break;
      case '[': array(v, depth); break;
      case '"':
        v.type = Type::String;
        v.text = string();
        break;
      case 't':
        expect_literal("true");
        v.type = Type::Bool;
        v.boolean = true;
        break;
      case 'f':
        expect_literal("false");
        v.type = Type::Bool;
        break;
      case 'n': expect_literal("null"); break;
      default:
        if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) number(v);
        else error("unexpected " + describe_here() + ", expected a value");
    }
    return v;
  }

  void object(Value& v, int depth) {
    v.type = Type::Object;
    ++pos_;  // '{'
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return;
    }
    std::unordered_set<std::string> seen;
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') error("unexpected " + describe_here() + ", expected a string key");
      size_t key_pos = pos_;
      std::string key = string();
      if (!seen.insert(key).second) {
        pos_ = key_pos;
        error("duplicate key \"" + key + "\"");
      }
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') error("unexpected " + describe_here() + ", expected ':' after a key");
      ++pos_;
      skip_ws();
      v.keys.push_back(std::move(key));
      v.items.push_back(value(depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return;
      }
      error("unexpected " + describe_here() + ", expected ',' or '}' in an object");
    }
  }

  void array(Value& v, int depth) {
    v.type = Type::Array;
    ++pos_;  // '['
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(value(depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return;
      }
      error("unexpected " + describe_here() + ", expected ',' or ']' in an array");
    }
  }

  void number(Value& v) {
    v.type = Type::Number;
    size_t start = pos_;
    auto digits = [&] {
      size_t b = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - b;
    };
    bool neg = s_[pos_] == '-';
    if (neg) ++pos_;
    size_t int_start = pos_;
    size_t n = digits();
    if (n == 0) error("invalid number: expected a digit");
    if (n > 1 && s_[int_start] == '0') {
      pos_ = int_start;
      error("invalid number: leading zero");
    }
    bool is_int = true;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) error("invalid number: expected a digit after '.'");
      is_int = false;
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) error("invalid number: expected a digit in the exponent");
      is_int = false;
    }
    v.text.assign(s_.substr(start, pos_ - start));
    v.number = std::strtod(v.text.c_str(), nullptr);
    if (is_int) {
      // Exact int64, or not an integer for our purposes (a later check reports it as too large).
      uint64_t mag = 0;
      bool fits = true;
      for (size_t i = int_start; i < pos_; ++i) {
        uint64_t d = uint64_t(s_[i] - '0');
        if (mag > (UINT64_MAX - d) / 10) {
          fits = false;
          break;
        }
        mag = mag * 10 + d;
      }
      uint64_t limit = neg ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX);
      if (fits && mag <= limit) {
        v.is_int = true;
        v.integer = neg ? int64_t(0 - mag) : int64_t(mag);
      }
    }
  }

  uint32_t hex4() {
    if (s_.size() - pos_ < 4) error("invalid \\u escape: expected 4 hex digits");
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_ + i];
      uint32_t d = c >= '0' && c <= '9' ? uint32_t(c - '0')
                   : c >= 'a' && c <= 'f' ? uint32_t(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? uint32_t(c - 'A' + 10)
                                          : 16u;
      if (d == 16) error("invalid \\u escape: expected 4 hex digits");
      u = u * 16 + d;
    }
    pos_ += 4;
    return u;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xc0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += char(0xe0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    } else {
      out += char(0xf0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3f));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    }
  }

  // Length of the well-formed UTF-8 sequence at pos_ (lead byte >= 0x80), or 0.
  size_t utf8_sequence() const {
    auto b = [&](size_t i) { return pos_ + i < s_.size() ? static_cast<unsigned char>(s_[pos_ + i]) : 0u; };
    auto cont = [&](size_t i) { return (b(i) & 0xc0) == 0x80; };
    unsigned c = b(0);
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
      if (c == 0xed && b(1) >= 0xa0) return 0;  // UTF-16 surrogate
      return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xf0 && b(1) < 0x90) return 0;   // overlong
      if (c == 0xf4 && b(1) >= 0x90) return 0;  // beyond U+10FFFF
      return 4;
    }
    return 0;
  }

  std::string string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) error("unterminated string");
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) error("control character (" + describe_here() + ") inside a string; it must be escaped");
      if (c >= 0x80) {
        size_t n = utf8_sequence();
        if (n == 0) error("invalid UTF-8 (" + describe_here() + ") inside a string");
        out.append(s_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out += char(c);
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) error("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) error("invalid \\u escape: unpaired low surrogate");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (s_.substr(pos_, 2) != "\\u") error("invalid \\u escape: high surrogate without a low surrogate");
            pos_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) error("invalid \\u escape: high surrogate without a low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          error("invalid escape '\\" + std::string(1, e) + "' in a string");
      }
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

Value parse(std::string_view text) { return Parser(text).document(); }

}  // namespace ie::json
