// instructedit: instruction-based image editing on native kernels. This entry exports the
// foundation: tensors, ops (forward and backward), scopes and runtime controls.
export { Tensor, tensor, zeros, ones, full, randn, rand, manualSeed } from './tensor';
export type { CreateOptions, RandomOptions } from './tensor';
export { scope, keep } from './scope';
export { backends, getNumThreads, setNumThreads, setCpuPath, synchronize, memoryStats, emptyCache } from './runtime';
export type { Backends, MemoryStats } from './runtime';
export type { DType, Device, Shape, TensorData } from './types';
export { loadSafetensors, readSafetensorsHeader, saveSafetensors, type LoadSafetensorsOptions, type SaveSafetensorsOptions, type SafetensorsHeader, type SafetensorsDType } from './io/safetensors';
import * as ops from './ops';
export { ops };
