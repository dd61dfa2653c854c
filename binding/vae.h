#pragma once
#include <napi.h>

namespace ieb {
// Adds NativeVAE and vaeLoad to the addon's exports.
void register_vae(Napi::Env env, Napi::Object exports);
}  // namespace ieb
