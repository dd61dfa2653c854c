#pragma once
#include <napi.h>

namespace ieb {
// Adds NativeScheduler to the addon's exports.
void register_scheduler(Napi::Env env, Napi::Object exports);
}  // namespace ieb
