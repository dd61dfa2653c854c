// instructedit's side of `npm run bench -- train`: SD1.5-sized UNet training steps (InstructPix2Pix
// + SuperEdit triplet) in this process; prints one JSON line with the fields of
// bench/peers/torch_train.py.
//
//   node bench/train/ours.mjs '{"unet_dir": DIR, "threads": 2, "batch": 2, "size": 32, "iters": 3, "warmup": 1, "triplet": true}'
//
// One step = Trainer.step(): per-sample timesteps, noise + addNoise, conditioning dropout (p 0.05),
// UNet forward at batch 2B ([positive; negative] text) with backward, the fused triplet + MSE loss,
// global-norm clipping (1.0), fused AdamW (lr 1e-4, wd 1e-2). No EMA (the peer has none either).
// The encoded batch (latents, text states) is made once, outside the timing, as the peer does.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const job = JSON.parse(process.argv[2]);
const ie = require(path.join(root, 'dist', 'index.js'));
if (typeof ie.Trainer !== 'function') {
  console.log(JSON.stringify({ peer: 'ours', notBuilt: true }));
  process.exit(3);
}
const threads = job.threads ?? 2;
ie.setNumThreads(threads);
const B = job.batch ?? 2, S = job.size ?? 32;
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

let t0 = performance.now();
const unet = await ie.UNet2DConditionModel.fromPretrained(job.unet_dir);
const loadS = (performance.now() - t0) / 1e3;
const noiseScheduler = ie.createScheduler({ _class_name: 'DDPMScheduler', num_train_timesteps: 1000, beta_start: 0.00085,
  beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon' });
const trainer = new ie.Trainer(unet, {
  noiseScheduler, lr: 1e-4, weightDecay: 1e-2, maxGradNorm: 1.0, conditioningDropout: 0.05, seed: job.seed ?? 0,
  triplet: job.triplet === false ? undefined : { margin: 5e-4, weight: 1 }, gradientCheckpointing: job.checkpoint === true,
});
const batch = {
  latents: ie.randn([B, 4, S, S], { seed: 11 }),
  imageLatents: ie.randn([B, 4, S, S], { seed: 12 }),
  textEmbeds: ie.randn([B, 77, 768], { seed: 13 }),
  negativeEmbeds: ie.randn([B, 77, 768], { seed: 14 }),
  nullTextEmbeds: ie.randn([1, 77, 768], { seed: 15 }),
};
const losses = [];
for (let i = 0; i < (job.warmup ?? 1); i++) losses.push((await trainer.step(batch)).loss);
const times = [];
for (let i = 0; i < (job.iters ?? 3); i++) {
  t0 = performance.now();
  const r = await trainer.step(batch);
  ie.synchronize();
  times.push((performance.now() - t0) / 1e3);
  losses.push(r.loss);
}
const ru = process.resourceUsage();
const stepS = median(times);
console.log(JSON.stringify({
  peer: 'ours', threads, batch: B, size: S, triplet: job.triplet !== false, iters: times.length, step_s: stepS, step_times: times,
  samples_per_s: B / stepS, load_s: loadS, peak_rss_bytes: ru.maxRSS * 1024, cpu_s: (ru.userCPUTime + ru.systemCPUTime) / 1e6,
  loss_first: losses[0], loss_last: losses[losses.length - 1],
}));
