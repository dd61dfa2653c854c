// Loads the native addon: a prebuild matching this platform if the package has one, else the
// local build (build/Release). Nothing else in src/ touches the addon directly.
import * as path from 'node:path';

/** Handle of a native tensor (owned by a {@link Tensor}). */
export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
  readonly disposed: boolean;
  dispose(): void;
  toArrayBuffer(): Promise<ArrayBuffer>;
  toArrayBufferSync(): ArrayBuffer;
  reshape(shape: number[]): NativeTensor;
}

type Fn = (...args: any[]) => any;
export interface NativeAddon {
  backends(): {
    cpu: boolean;
    cpuPath: string;
    cpuPathDetected: string;
    cudaBuilt: boolean;
    cuda: boolean;
    cudaDevices: number;
    cudaArchs: string;
    cudaDeviceNames: string[];
    gemm: string;
  };
  getNumThreads(): number;
  setNumThreads(n: number): void;
  setCpuPath(path: string): void;
  sync(device: string): void;
  memoryStats(device?: string): { inUse: number; cached: number; peakInUse: number };
  emptyCache(device?: string): void;
  externalMemory(): number;
  fmaPeakGflops(threads: number, seconds: number): number;
  [op: string]: Fn;
}

function load(): NativeAddon {
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('node-gyp-build')(root) as NativeAddon;
  } catch (err) {
    const e = new Error(
      `instructedit: could not load the native addon (${(err as Error).message}). ` +
        `No prebuild matches this platform and no local build was found: run \`npm run build:native\` ` +
        `(needs cmake and a C++17 compiler) in ${root}.`,
    );
    (e as Error & { cause?: unknown }).cause = err;
    throw e;
  }
}

export const native: NativeAddon = load();

// INSTRUCTEDIT_CPU lowers the CPU kernel path; a value the CPU cannot run is an error, not a
// silent fallback, so a test matrix never believes it covered a path it did not.
const forced = process.env.INSTRUCTEDIT_CPU;
if (forced !== undefined && forced !== '') {
  native.setCpuPath(forced);
}
