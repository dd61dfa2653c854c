#pragma once
#include <napi.h>

namespace ieb {
// Adds NativeCLIPTextModel and clipTextLoad to the addon's exports.
void register_clip(Napi::Env env, Napi::Object exports);
}  // namespace ieb
