// ie::Error: every failure the native library reports. The binding turns it into a JS Error with
// the same message, so messages are written for the user: name the op, the argument, what was
// received and what was expected.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ie {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... R>
void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Builds a message from any streamable pieces: ie::fail("conv2d: x must be 4-D, got ", shape).
template <typename... A>
[[noreturn]] void fail(const A&... parts) {
  std::ostringstream os;
  detail::append(os, parts...);
  throw Error(os.str());
}

}  // namespace ie

#define IE_CHECK(cond, ...)               \
  do {                                    \
    if (!(cond)) ::ie::fail(__VA_ARGS__); \
  } while (0)
