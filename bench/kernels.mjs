// Kernel benchmark: GEMM, conv2d 3×3 at SD1.5 shapes, fused attention, GroupNorm+SiLU, fused
// scheduler steps (vs diffusers' step as separate torch ops).
// Reports ms, GFLOP/s or GB/s, the fraction of this machine's measured FMA peak, and the ratio
// against PyTorch CPU run on the same shapes with the same thread count in the same run.
//   npm run bench -- kernels [--threads N] [--quick] [--no-peer] [--only <substring of case ids>]
// Writes bench/results/kernels-<timestamp>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ie = require('../dist/index.js');
const { native } = require('../dist/native.js');
const { ops } = ie;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const threads = Number(opt('threads', os.availableParallelism?.() ?? os.cpus().length));
const quick = args.includes('--quick');
const minTime = quick ? 0.2 : 1.0;
ie.setNumThreads(threads);

// --- cases ----------------------------------------------------------------------------------------
const cases = [];
for (const n of quick ? [256, 1024, 2048] : [256, 512, 1024, 2048, 4096]) cases.push({ id: `gemm ${n}³`, kind: 'gemm', n, flops: 2 * n ** 3 });
const convShapes = [
  [320, 64],
  [640, 32],
  [1280, 16],
  [1280, 8],
];
for (const [c, h] of quick ? convShapes.slice(1, 3) : convShapes) {
  const flops = 2 * 3 * c * c * 9 * h * h;
  cases.push({ id: `conv3x3 ${c}ch ${h}px b3`, kind: 'conv2d', batch: 3, cin: c, cout: c, h, flops });
}
cases.push({ id: 'conv3x3 bwd 640ch 32px b3', kind: 'conv2d_bwd', batch: 3, cin: 640, cout: 640, h: 32, flops: 2 * 2 * 3 * 640 * 640 * 9 * 32 * 32 });
const attn = [
  // self-attention at the SD1.5 levels (64², 32², 16² tokens; head dim 40/80/160), 8 heads
  [4096, 4096, 40],
  [1024, 1024, 80],
  [256, 256, 160],
  [1024, 1024, 64],
  // cross-attention to 77 text tokens
  [4096, 77, 40],
  [1024, 77, 80],
];
for (const [lq, lk, d] of quick ? attn.slice(1, 3) : attn) {
  cases.push({ id: `attn ${lq}x${lk} d${d} h8`, kind: 'attention', batch: 1, heads: 8, lq, lk, d, flops: 4 * 8 * lq * lk * d });
}
// Scheduler steps: one fused pass (reads x, e [, x0 of the last step], writes prev and x0; Euler
// ancestral draws its noise inline) vs diffusers' step as separate torch ops (randn included).
for (const [b, h] of quick ? [[1, 64]] : [[1, 64], [16, 128]]) {
  const n = b * 4 * h * h;
  cases.push({ id: `sched euler-a step 4x${h}px b${b}`, kind: 'sched_euler_a', shape: [b, 4, h, h], bytes: 16 * n });
  cases.push({ id: `sched dpm++2m step 4x${h}px b${b}`, kind: 'sched_dpm2m', shape: [b, 4, h, h], bytes: 20 * n });
}
// Two-way pix2pix guidance: one pass over the batch-3 UNet output (reads 3n, writes n) vs the
// reference's expression as torch ops.
for (const h of quick ? [64] : [64, 128]) {
  const n = 4 * h * h;
  cases.push({ id: `pix2pix guidance 4x${h}px`, kind: 'guidance', shape: [3, 4, h, h], bytes: 16 * n });
}
cases.push({ id: 'groupnorm+silu 320ch 64px b3', kind: 'groupnorm_silu', batch: 3, c: 320, h: 64, groups: 32, bytes: 2 * 3 * 320 * 64 * 64 * 4 });
// Training: the fused triplet+MSE loss with its gradient (bytes: read ε, pos, neg, write both grads)
// vs SuperEdit's released formula through torch autograd; the optimizer passes over a flat
// parameter buffer vs torch.optim.AdamW(foreach) / vector_norm / diffusers' EMA update.
for (const [b, h] of quick ? [[16, 64]] : [[2, 32], [16, 64]]) {
  const n = b * 4 * h * h;
  cases.push({ id: `train triplet loss fwd+bwd 4x${h}px b${b}`, kind: 'triplet', b, shape: [4, h, h], bytes: 20 * n });
}
for (const n of quick ? [1e7] : [1e7, 1e8]) {
  const m = `${n / 1e6}M`;
  cases.push({ id: `train adamw step ${m}`, kind: 'adamw', n, bytes: 28 * n });
  cases.push({ id: `train grad sum of squares ${m}`, kind: 'sumsq', n, bytes: 4 * n });
  cases.push({ id: `train ema update ${m}`, kind: 'ema', n, bytes: 12 * n });
}
if (opt('only')) cases.splice(0, cases.length, ...cases.filter((c) => c.id.includes(opt('only'))));

// --- our side -------------------------------------------------------------------------------------
function time(fn) {
  fn();
  ie.synchronize();
  let best = Infinity, spent = 0, iters = 0;
  while ((spent < minTime || iters < 3) && iters < 50) {
    const t0 = process.hrtime.bigint();
    fn();
    ie.synchronize();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, dt);
    spent += dt;
    iters++;
  }
  return best;
}

function setup(c) {
  const rn = (shape, std = 1) => ie.randn(shape, { seed: 1, std });
  switch (c.kind) {
    case 'gemm': {
      const a = rn([c.n, c.n]), b = rn([c.n, c.n]);
      return () => ops.matmul(a, b).dispose();
    }
    case 'conv2d': {
      const x = rn([c.batch, c.cin, c.h, c.h]), w = rn([c.cout, c.cin, 3, 3], 0.05), b = rn([c.cout]);
      return () => ops.conv2d(x, w, b, { padding: 1 }).dispose();
    }
    case 'conv2d_bwd': {
      const x = rn([c.batch, c.cin, c.h, c.h]), w = rn([c.cout, c.cin, 3, 3], 0.05), dy = rn([c.batch, c.cout, c.h, c.h]);
      return () => {
        const g = ops.conv2dBackward(dy, x, w, { padding: 1 });
        g.dx.dispose(); g.dw.dispose(); g.db.dispose();
      };
    }
    case 'attention': {
      const C = c.heads * c.d;
      const q = rn([c.batch, c.lq, C]), k = rn([c.batch, c.lk, C]), v = rn([c.batch, c.lk, C]);
      return () => ops.attention(q, k, v, { heads: c.heads }).dispose();
    }
    case 'sched_euler_a':
    case 'sched_dpm2m': {
      const sd = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };
      const base = ie.createScheduler({ _class_name: c.kind === 'sched_dpm2m' ? 'dpmpp-2m' : 'euler-ancestral', ...sd });
      base.setTimesteps(20);
      const x = rn(c.shape, 5), e = rn(c.shape);
      const first = base.step(e, base.timesteps[0], x); // DPM-Solver++: step 1 is second order
      first.prevSample.dispose();
      first.predOriginalSample.dispose();
      return () => {
        const s = base.clone();
        const o = s.step(e, s.timesteps[1], x);
        o.prevSample.dispose();
        o.predOriginalSample.dispose();
      };
    }
    case 'guidance': {
      const e = rn(c.shape);
      return () => ops.pix2pixGuidance(e, 7.5, 1.5).dispose();
    }
    case 'triplet': {
      const t = rn([c.b, ...c.shape]), x = rn([2 * c.b, ...c.shape]);
      const mask = Array.from({ length: c.b }, (_, i) => (i % 4 === 3 ? 0 : 1));
      return () => {
        const r = ops.tripletLoss(x, t, { mask });
        r.grad.dispose();
        r.stats.dispose();
      };
    }
    case 'adamw': {
      const p = rn([c.n]), g = rn([c.n], 0.01), m = ie.zeros([c.n]), v = ie.zeros([c.n]);
      let step = 0;
      return () => ops.adamwStep(p, g, m, v, { lr: 1e-4, step: ++step });
    }
    case 'sumsq': {
      const g = rn([c.n]);
      return () => ops.sumSquares(g).dispose();
    }
    case 'ema': {
      const e = rn([c.n]), p = rn([c.n]);
      return () => ops.emaUpdate(e, p, 0.9999);
    }
    case 'groupnorm_silu': {
      const x = rn([c.batch, c.c, c.h, c.h]), g = rn([c.c]), b = rn([c.c]);
      return () => ops.groupNorm(x, c.groups, { weight: g, bias: b, silu: true }).dispose();
    }
  }
  throw new Error(c.kind);
}

console.log(`instructedit kernel benchmark: ${os.cpus()[0].model}, ${threads} threads, CPU path ${ie.backends().cpuPath}`);
const peak = native.fmaPeakGflops(threads, quick ? 0.3 : 1.0);
// memory bandwidth: y = 2x + 1 over 64 Mi floats (read + write)
const big = ie.randn([1 << 26], { seed: 9 });
const bw = (2 * 4 * (1 << 26)) / time(() => ops.scale(big, 2, 1).dispose()) / 1e9;
big.dispose();
console.log(`measured peak: ${peak.toFixed(1)} GFLOP/s FP32 FMA; ${bw.toFixed(1)} GB/s streaming (y = ax + b)`);

const ours = {};
for (const c of cases) {
  const fn = setup(c);
  ours[c.id] = time(fn);
  process.stderr.write(`  instructedit ${c.id}: ${(ours[c.id] * 1e3).toFixed(2)} ms\n`);
}

// --- peer -----------------------------------------------------------------------------------------
let peer = null;
if (!args.includes('--no-peer')) {
  const pythons = [process.env.INSTRUCTEDIT_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
  for (const py of pythons) {
    const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status !== 0) continue;
    const r = spawnSync(py, [path.join(here, 'peers', 'torch_kernels.py')], {
      input: JSON.stringify({ threads, minTime, cases }),
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
    });
    if (r.status === 0) peer = JSON.parse(r.stdout);
    else console.error(`PyTorch peer failed (${py}): exit ${r.status}`);
    break;
  }
  if (!peer) console.error('PyTorch not found (apt-get install python3-torch): peer column left empty');
}

// --- report ---------------------------------------------------------------------------------------
const rows = cases.map((c) => {
  const s = ours[c.id];
  const rate = c.flops ? `${(c.flops / s / 1e9).toFixed(1)} GFLOP/s` : `${(c.bytes / s / 1e9).toFixed(1)} GB/s`;
  const frac = c.flops ? `${((100 * c.flops) / s / 1e9 / peak).toFixed(0)}% peak` : `${((100 * c.bytes) / s / 1e9 / bw).toFixed(0)}% bw`;
  const t = peer?.results?.[c.id];
  return {
    case: c.id,
    ms: (s * 1e3).toFixed(2),
    rate,
    frac,
    torch_ms: t ? (t * 1e3).toFixed(2) : '-',
    speedup: t ? `${(t / s).toFixed(2)}×` : '-',
  };
});
const cols = ['case', 'ms', 'rate', 'frac', 'torch_ms', 'speedup'];
const head = ['case', 'instructedit ms', 'rate', 'of peak', `torch ${peer?.torch ?? ''} ms`, 'speedup vs torch'];
const width = cols.map((k, i) => Math.max(head[i].length, ...rows.map((r) => String(r[k]).length)));
const line = (vals) => '| ' + vals.map((v, i) => String(v).padEnd(width[i])).join(' | ') + ' |';
console.log('');
console.log(line(head));
console.log('|' + width.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(cols.map((k) => r[k])));

const outDir = path.join(here, 'results');
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `kernels-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0].model, threads, cpuPath: ie.backends().cpuPath, peakGflops: peak, bandwidthGBs: bw, torch: peer?.torch ?? null, cases, ours, peer: peer?.results ?? null, rows }, null, 1),
);
console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
