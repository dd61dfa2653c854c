// Training-step benchmark: an SD1.5-sized InstructPix2Pix UNet (random weights, real config, fp32)
// trained with SuperEdit's triplet loss at 32×32 latents, batch 2 (×2 for the triplet: one UNet call
// at batch 4), instructedit's Trainer against the same step in PyTorch CPU
// (bench/peers/torch_train.py: autograd, unfused loss, clip_grad_norm_, torch.optim.AdamW), each in
// its own subprocess, one after the other, in the same run.
//
//   npm run bench -- train [--threads N] [--iters N] [--batch B] [--size S] [--no-triplet] [--skip-peer]
//
// Memory: parameters 3.4 GB + gradients 3.4 GB + AdamW moments 6.9 GB + activations: ~18 GB per
// process; the two never run at once. Needs bench/.cache/unet_sd15_random (made by `npm run bench --
// unet`, or here when missing). Writes bench/results/train-<timestamp>.json.
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
const job = {
  unet_dir: path.join(here, '.cache', 'unet_sd15_random'), threads, batch: Number(opt('batch', 2)), size: Number(opt('size', 32)),
  iters: Number(opt('iters', 3)), warmup: 1, triplet: !args.includes('--no-triplet'), seed: 0,
};
const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
const log = (s) => process.stderr.write(`${s}\n`);

const py = findTorchPython();
ensureUnetWeights(here, job.unet_dir, py, env);

function measure(who) {
  const cmd = who === 'torch' ? [py, path.join(here, 'peers', 'torch_train.py'), JSON.stringify(job)]
    : [process.execPath, path.join(here, 'train', 'ours.mjs'), JSON.stringify(job)];
  log(`  ${who}: batch ${job.batch}${job.triplet ? ' (×2 triplet)' : ''}, ${job.size}×${job.size} latents, ${job.iters} timed steps ...`);
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  try {
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    if (r.status === 0) return res;
  } catch {
    /* reported below */
  }
  log(`  ${who} failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`);
  return null;
}

const ours = measure('ours');
const torch = args.includes('--skip-peer') || !py ? null : measure('torch');
const f = (v, d = 2) => (v === undefined || v === null ? '–' : Number(v).toFixed(d));
console.log(`\ntraining-step benchmark: ${os.cpus()[0]?.model}, ${threads} threads, fp32, SD1.5-size UNet, ` +
  `batch ${job.batch}${job.triplet ? ' ×2 (triplet)' : ''}, ${job.size}×${job.size} latents`);
console.log('| | instructedit | PyTorch | speed-up |');
console.log('|---|---|---|---|');
console.log(`| step (s, median of ${job.iters}) | ${f(ours?.step_s)} | ${f(torch?.step_s)} | ${ours && torch ? `${(torch.step_s / ours.step_s).toFixed(2)}×` : '–'} |`);
console.log(`| samples/s | ${f(ours?.samples_per_s, 3)} | ${f(torch?.samples_per_s, 3)} | |`);
console.log(`| peak RSS (GiB) | ${f(ours ? ours.peak_rss_bytes / 2 ** 30 : null)} | ${f(torch ? torch.peak_rss_bytes / 2 ** 30 : null)} | |`);
mkdirSync(path.join(here, 'results'), { recursive: true });
const out = path.join(here, 'results', `train-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, job, ours, torch }, null, 1));
log(`wrote ${path.relative(process.cwd(), out)}`);
