// instructedit's side of `npm run bench -- unet`: times one benchmark row of the full-size UNet in
// this process (like the peers, so each gets its own RSS high-water mark) and prints one JSON line.
//
//   node bench/unet/ours.mjs '{"model": DIR, "threads": 2, "kind": "fwd"|"fwdbwd", "batch": 3, "size": 32, "iters": 3}'
//   node bench/unet/ours.mjs --verify '{"model": DIR, "threads": 2, "verify": FILE}'
//
// kind "fwd": `await unet.forward(sample, timesteps, ehs)` (inference). kind "fwdbwd":
// `forward(..., { train: true })` then `await unet.backward(R)` (R = d loss/d out for
// loss = (out * R).sum(); input and parameter gradients). Timing: one warm-up call, then `iters`
// timed calls (each ends with synchronize()). Exit code 3 with {"notBuilt": true} when dist/ does
// not export UNet2DConditionModel yet. --verify runs the small case in FILE (written by
// bench/peers/torch_unet.py --make-verify from the same weights) and prints the relative L2 error
// against PyTorch's output (exit 1 above 1e-4).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const argv = process.argv.slice(2);
const verify = argv.includes('--verify');
const job = JSON.parse(argv.filter((a) => a !== '--verify')[0]);
const ie = require(path.join(root, 'dist', 'index.js'));
if (typeof ie.UNet2DConditionModel?.fromPretrained !== 'function') {
  console.log(JSON.stringify({ peer: 'ours', notBuilt: true }));
  process.exit(3);
}
const { UNet2DConditionModel, randn, tensor, synchronize } = ie;
const threads = job.threads ?? 2;
ie.setNumThreads(threads);

const t0 = performance.now();
const unet = await UNet2DConditionModel.fromPretrained(job.model);
const loadS = (performance.now() - t0) / 1e3;
if (verify) {
  const v = await ie.loadSafetensors(job.verify);
  const out = await unet.forward(v.sample, v.timestep, v.encoder_hidden_states);
  const got = out.toArraySync(), ref = v.out.toArraySync();
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) { num += (got[i] - ref[i]) ** 2; den += ref[i] ** 2; }
  const relL2 = Math.sqrt(num / den);
  const ok = JSON.stringify(out.shape) === JSON.stringify(v.out.shape) && relL2 < 1e-4;
  console.log(JSON.stringify({ peer: 'ours', verify: true, shape: out.shape, relL2, ok, load_s: loadS }));
  process.exit(ok ? 0 : 1);
}
const cfg = unet.config ?? {};
const B = job.batch, S = job.size, iters = job.iters ?? 3;
const first = (v, d) => (Array.isArray(v) ? v[0] : v ?? d); // the model's config expands per-block lists
const inCh = first(cfg.in_channels, 8), outCh = first(cfg.out_channels, 4), ctx = first(cfg.cross_attention_dim, 768);
const sample = randn([B, inCh, S, S], { seed: 1 });
const timesteps = tensor(Float32Array.from({ length: B }, (_, i) => (B > 1 ? 999 - (998 * i) / (B - 1) : 500)), [B]);
const ehs = randn([B, 77, ctx], { seed: 2 });
const R = job.kind === 'fwdbwd' ? randn([B, outCh, S, S], { seed: 7 }) : null;

async function step() {
  if (job.kind === 'fwd') {
    const out = await unet.forward(sample, timesteps, ehs);
    synchronize();
    return out;
  }
  const out = await unet.forward(sample, timesteps, ehs, { train: true });
  const g = await unet.backward(R);
  synchronize();
  for (const t of Object.values(g ?? {})) t?.dispose?.();
  return out;
}

let out = await step(); // warm-up
const o = out.toArraySync();
let sq = 0, amax = 0;
for (const x of o) { sq += x * x; amax = Math.max(amax, Math.abs(x)); }
out.dispose();
const times = [];
for (let i = 0; i < iters; i++) {
  const t1 = performance.now();
  out = await step();
  times.push((performance.now() - t1) / 1e3);
  out.dispose();
}
const sorted = [...times].sort((a, b) => a - b);
const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
const cpu = process.cpuUsage();
console.log(JSON.stringify({
  peer: 'ours',
  threads,
  cpuPath: ie.backends?.().cpuPath ?? null,
  kind: job.kind,
  batch: B,
  size: S,
  load_s: loadS,
  times,
  median,
  best: sorted[0],
  peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  cpu_s: (cpu.user + cpu.system) / 1e6,
  out_rms: Math.sqrt(sq / o.length),
  out_absmax: amax,
  memoryStats: unet.memoryStats?.() ?? null,
}));
unet.dispose();
