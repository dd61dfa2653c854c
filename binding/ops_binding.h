#pragma once
#include <napi.h>

namespace ieb {
// Adds every op function to the addon's exports.
void register_ops(Napi::Env env, Napi::Object exports);
}  // namespace ieb
