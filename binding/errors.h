// guard(): runs native code and turns C++ exceptions into JS errors with the same message.
#pragma once
#include <napi.h>

#include <new>
#include <utility>

#include "ie/error.h"

namespace ieb {

template <typename F>
auto guard(Napi::Env env, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const ie::Error& e) {
    throw Napi::Error::New(env, e.what());
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "instructedit: out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("instructedit internal error: ") + e.what());
  }
}

}  // namespace ieb
