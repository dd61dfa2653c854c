// onnxruntime-node peer for `npm run bench -- unet`: times one benchmark row of the exported UNet
// (bench/peers/export_unet_onnx.py) in this process and prints one JSON line on stdout.
//
//   node bench/peers/ort_unet.mjs '{"onnx": ".../unet.onnx", "ort": ".../node_modules/onnxruntime-node",
//                                   "threads": 2, "batch": 3, "size": 32, "iters": 3}'
//   node bench/peers/ort_unet.mjs --verify '{"onnx": ..., "ort": ..., "threads": 2, "verify": FILE}'
//
// Forward only (onnxruntime-node has no training API). Session: CPU execution provider,
// intraOpNumThreads = threads, interOpNumThreads = 1, sequential execution, all graph
// optimisations. Timing: one warm-up run, then `iters` timed runs; reports every time, the median
// and the best. peak_rss_bytes is this process's RSS high-water mark (includes the weights).
// --verify runs the small case in FILE (bench/peers/torch_unet.py --make-verify) and prints the
// relative L2 error against PyTorch's output (exit 1 if above 1e-4).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const verify = argv.includes('--verify');
const job = JSON.parse(argv.filter((a) => a !== '--verify')[0]);
const require = createRequire(import.meta.url);
const ort = require(job.ort);
const threads = job.threads ?? 2;

function readSafetensors(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`${file}: ${name}: ${info.dtype}`);
    const [b, e] = info.data_offsets;
    const bytes = buf.subarray(8 + n + b, 8 + n + e);
    out[name] = { shape: info.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
  }
  return out;
}

function randn(count, seed) {
  // xorshift32 + Box-Muller: O(1) inputs; the values do not affect the timing
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const a = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), th = 2 * Math.PI * u();
    a[i] = r * Math.cos(th);
    if (i + 1 < count) a[i + 1] = r * Math.sin(th);
  }
  return a;
}

const t0 = performance.now();
const session = await ort.InferenceSession.create(job.onnx, {
  executionProviders: ['cpu'],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const loadS = (performance.now() - t0) / 1e3;
const T = (d, shape) => new ort.Tensor('float32', d, shape);

if (verify) {
  const v = readSafetensors(job.verify);
  const r = await session.run({
    sample: T(v.sample.data, v.sample.shape),
    timestep: T(v.timestep.data, v.timestep.shape),
    encoder_hidden_states: T(v.encoder_hidden_states.data, v.encoder_hidden_states.shape),
  });
  const got = r.out.data, ref = v.out.data;
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) { num += (got[i] - ref[i]) ** 2; den += ref[i] ** 2; }
  const rel = Math.sqrt(num / den);
  const shapeOk = JSON.stringify(r.out.dims) === JSON.stringify(v.out.shape);
  console.log(JSON.stringify({ peer: 'onnxruntime-node', verify: true, shape: r.out.dims, relL2: rel, ok: shapeOk && rel < 1e-4, load_s: loadS }));
  process.exit(shapeOk && rel < 1e-4 ? 0 : 1);
}

const { batch: B, size: S } = job;
const iters = job.iters ?? 3;
const feeds = {
  sample: T(randn(B * 8 * S * S, 1), [B, 8, S, S]),
  timestep: T(Float32Array.from({ length: B }, (_, i) => (B > 1 ? 999 - (998 * i) / (B - 1) : 500)), [B]),
  encoder_hidden_states: T(randn(B * 77 * 768, 2), [B, 77, 768]),
};
let out = (await session.run(feeds)).out; // warm-up
let sq = 0, amax = 0;
for (const x of out.data) { sq += x * x; amax = Math.max(amax, Math.abs(x)); }
const times = [];
for (let i = 0; i < iters; i++) {
  const t1 = performance.now();
  out = (await session.run(feeds)).out;
  times.push((performance.now() - t1) / 1e3);
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
console.log(JSON.stringify({
  peer: 'onnxruntime-node',
  version: ort.env.versions?.node ?? ort.env.versions?.common ?? null,
  threads,
  kind: 'fwd',
  batch: B,
  size: S,
  load_s: loadS,
  times,
  median,
  best: sorted[0],
  peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  cpu_s: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  out_rms: Math.sqrt(sq / out.data.length),
  out_absmax: amax,
}));
await session.release?.();
