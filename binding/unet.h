#pragma once
#include <napi.h>

namespace ieb {
// Adds NativeUNet and unetLoad to the addon's exports.
void register_unet(Napi::Env env, Napi::Object exports);
}  // namespace ieb
