#pragma once
#include <napi.h>

namespace ieb {
// Adds the checkpoint I/O functions (safetensors) to the addon's exports.
void register_io(Napi::Env env, Napi::Object exports);
}  // namespace ieb
