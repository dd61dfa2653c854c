// Runtime controls: backends, threads, CPU kernel path.
import { native } from './native';
import type { Device } from './types';
import { checkDevice } from './validate';

export interface Backends {
  /** Always true. */
  cpu: boolean;
  /** CPU kernel path in use: 'avx512' | 'avx2' | 'generic'. */
  cpuPath: 'avx512' | 'avx2' | 'generic';
  /** Best path this CPU supports. */
  cpuPathDetected: 'avx512' | 'avx2' | 'generic';
  /** The addon was compiled with the CUDA backend. */
  cudaBuilt: boolean;
  /** A CUDA device is usable now. */
  cuda: boolean;
  cudaDevices: number;
  /** The GPU architectures the CUDA kernels were compiled for, e.g. '80,90' ('' without CUDA). */
  cudaArchs: string;
  /** Name of each CUDA device, e.g. ['NVIDIA H100 80GB HBM3']. */
  cudaDeviceNames: string[];
  /**
   * GEMM backend on cuda:0: 'cublas 13.0.2 loaded from <path>; auto' (cuBLAS found at run time;
   * per shape the faster of it and our kernels), or 'ours (cuBLAS not found: <reason>)'.
   * INSTRUCTEDIT_GEMM=ours|cublas|auto forces a choice; INSTRUCTEDIT_CUBLAS / INSTRUCTEDIT_CUBLAS_DIRS
   * say where cuBLAS is.
   */
  gemm: string;
}

/** What this build can run on. */
export function backends(): Backends {
  return native.backends() as Backends;
}

/** Threads used by CPU kernels (default: the machine's cores). */
export function getNumThreads(): number {
  return native.getNumThreads();
}

/** Sets the CPU kernel thread count; 0 means all cores. Waits for queued CPU work first. */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

/**
 * Forces a CPU kernel path ('generic' | 'avx2' | 'avx512'), e.g. to test or compare paths. The
 * INSTRUCTEDIT_CPU environment variable does the same at load. Throws if the CPU lacks the path.
 */
export function setCpuPath(path: 'generic' | 'avx2' | 'avx512'): void {
  native.setCpuPath(path);
}

/** Blocks until all queued work on the device has finished (rethrows a kernel failure). */
export function synchronize(device: string = 'cpu'): void {
  native.sync(device);
}

export interface MemoryStats {
  /** Bytes held by live tensors. */
  inUse: number;
  /** Bytes of freed blocks kept for reuse (host: INSTRUCTEDIT_CPU_CACHE_MB caps it, default 4096; GPU: given back when an allocation would fail). */
  cached: number;
  /** Highest inUse so far. */
  peakInUse: number;
}

/** Tensor memory of a device ('cpu' by default, or 'cuda[:N]'), in bytes. */
export function memoryStats(device: Device = 'cpu'): MemoryStats {
  checkDevice(device, 'memoryStats');
  return native.memoryStats(device) as MemoryStats;
}

/** Returns a device's cached (freed) blocks to the operating system or the CUDA driver. */
export function emptyCache(device: Device = 'cpu'): void {
  checkDevice(device, 'emptyCache');
  native.emptyCache(device);
}
