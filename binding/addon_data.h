// Per-environment state of the addon (worker threads each load their own instance).
#pragma once
#include <napi.h>

namespace ieb {

struct AddonData {
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference unet_ctor, cancel_ctor;
  Napi::FunctionReference vae_ctor;
  Napi::FunctionReference clip_ctor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace ieb
