// Whole-edit benchmark: an SD1.5-sized InstructPix2Pix pipeline (random weights, real configs,
// fp32) at 256×256 and 512×512, instructedit against PyTorch CPU (bench/peers/torch_pipeline.py,
// the plain-torch pipeline that bench/peers/check_pipeline_parity.py proves against the diffusers
// fixtures) measured in the same run, with the split text encoder / VAE encode / step / VAE decode.
//
//   npm run bench -- edit [--threads N] [--sizes 256,512] [--steps 256:10,512:4] [--iters N] [--skip-peer]
//
// Each measurement runs in its own subprocess, one at a time, so each gets the cores and its own
// peak RSS. One warm-up 1-step edit precedes the timed ones. "step" is one denoising step (UNet at
// batch 3 + guidance + scheduler step), the median over every timed step; "edit" is the whole
// edit (text, VAE encode, all steps, VAE decode) with the steps given. Needs the UNet weights that
// `npm run bench -- unet` writes to bench/.cache/unet_sd15_random (generated here when missing).
// Writes bench/results/edit-<timestamp>.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureUnetWeights, findTorchPython } from './common/setup.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const threads = Number(opt('threads', 2));
const iters = Number(opt('iters', 1));
const sizes = opt('sizes', '256,512').split(',').map(Number);
const stepsFor = Object.fromEntries(opt('steps', '256:10,512:4').split(',').map((s) => s.split(':').map(Number)));
const log = (s) => process.stderr.write(`${s}\n`);
const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
const unetDir = path.join(here, '.cache', 'unet_sd15_random');

const py = findTorchPython();
ensureUnetWeights(here, unetDir, py, env);

function measure(who, size) {
  const job = { unet_dir: unetDir, threads, size, steps: stepsFor[size] ?? 4, iters, warmup: 1 };
  const cmd = who === 'torch' ? [py, path.join(here, 'peers', 'torch_pipeline.py'), JSON.stringify(job)]
    : [process.execPath, path.join(here, 'edit', 'ours.mjs'), JSON.stringify(job)];
  log(`  ${who} ${size}×${size}, ${job.steps} steps ...`);
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  try {
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    if (r.status === 0) return res;
  } catch {
    /* reported below */
  }
  log(`  ${who} ${size} failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  return null;
}

const peers = args.includes('--skip-peer') || !py ? ['ours'] : ['ours', 'torch'];
if (!py && !args.includes('--skip-peer')) log('PyTorch not found (apt-get install python3-torch python3-numpy): peer column left empty');
const results = [];
for (const size of sizes) for (const who of peers) results.push({ who, size, r: measure(who, size) });

const f = (v, d = 2) => (v === undefined || v === null ? '–' : v.toFixed(d));
const rows = [];
for (const size of sizes) {
  const o = results.find((x) => x.who === 'ours' && x.size === size)?.r;
  const t = results.find((x) => x.who === 'torch' && x.size === size)?.r;
  for (const [label, key] of [['text encoder (2 prompts)', 'text_encode_s'], ['VAE encode', 'vae_encode_s'],
    ['denoising step (UNet b3 + CFG + sampler)', 'step_s'], ['VAE decode', 'vae_decode_s'], [`whole edit, ${o?.steps ?? t?.steps} steps`, 'edit_s']]) {
    rows.push([`${size}×${size}`, label, f(o?.[key]), f(t?.[key]), o && t ? `${(t[key] / o[key]).toFixed(2)}×` : '–']);
  }
  rows.push([`${size}×${size}`, 'peak RSS (GiB)', f(o ? o.peak_rss_bytes / 2 ** 30 : null), f(t ? t.peak_rss_bytes / 2 ** 30 : null), '']);
}
const head = ['size', 'phase', 'instructedit (s)', 'PyTorch (s)', 'speed-up'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
console.log(`\nwhole-edit benchmark: ${os.cpus()[0]?.model}, ${threads} threads, fp32, random weights (SD1.5 sizes)`);
console.log(`| ${head.map((h, i) => h.padEnd(w[i])).join(' | ')} |`);
console.log(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`);
for (const r of rows) console.log(`| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`);
mkdirSync(path.join(here, 'results'), { recursive: true });
const out = path.join(here, 'results', `edit-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, threads, results }, null, 1));
log(`wrote ${path.relative(process.cwd(), out)}`);
