// instructedit's side of `npm run bench -- edit`: whole InstructPix2Pix edits with SD1.5-sized
// models (random weights, real configs, fp32) in this process; prints one JSON line (the same
// fields as bench/peers/torch_pipeline.py).
//
//   node bench/edit/ours.mjs '{"unet_dir": DIR, "threads": 2, "size": 256, "steps": 10, "iters": 1, "warmup": 1}'
//
// Models: the UNet from unet_dir (the file the torch peer loads too); the VAE (SD_VAE_CONFIG) and
// the CLIP ViT-L/14 text tower (CLIP_VIT_L14_TEXT_CONFIG) randomly initialised in-process (same
// shapes and cost as the peer's, not the same values). The tokenizer is the fixture's small BPE
// vocab (tokenising is microseconds; the text encoder's cost does not depend on the ids).
// Phases are timed separately (text encoder on [prompt, ""], VAE encode, VAE decode) and inside
// the edits (per-step times from onProgress; median over all timed steps). The image goes in as a
// tensor, as the peer's does, so file decoding is not timed.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const job = JSON.parse(process.argv[2]);
const ie = require(path.join(root, 'dist', 'index.js'));
if (typeof ie.Editor?.fromComponents !== 'function') {
  console.log(JSON.stringify({ peer: 'ours', notBuilt: true }));
  process.exit(3);
}
const threads = job.threads ?? 2;
ie.setNumThreads(threads);
const shared = process.env.IE_SHARED_DIR ?? path.join(root, '..', 'shared');
const parity = path.join(shared, 'parity');
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const secs = (t0) => (performance.now() - t0) / 1e3;

const t0 = performance.now();
const unet = await ie.UNet2DConditionModel.fromPretrained(job.unet_dir);
const vae = await ie.AutoencoderKL.fromConfig(ie.SD_VAE_CONFIG, { seed: 2 });
const textEncoder = await ie.CLIPTextModel.fromConfig(ie.CLIP_VIT_L14_TEXT_CONFIG, { seed: 3 });
const tokenizer = await ie.CLIPTokenizer.fromPretrained(path.join(parity, 'clip_tokenizer_tiny'));
const schedulerConfig = { _class_name: 'EulerAncestralDiscreteScheduler', num_train_timesteps: 1000, beta_start: 0.00085,
  beta_end: 0.012, beta_schedule: 'scaled_linear', prediction_type: 'epsilon', timestep_spacing: 'linspace', steps_offset: 1 };
const editor = ie.Editor.fromComponents({ unet, vae, textEncoder, tokenizer, schedulerConfig });
ie.synchronize();
const initS = secs(t0);

const S = job.size;
const image = ie.rand([1, 3, S, S], { seed: 5 });
const prompt = 'turn the sky purple';
const iters = job.iters ?? 1;

for (let i = 0; i < (job.warmup ?? 1); i++) (await editor.edit(image, prompt, { steps: 1, seed: 1 })).dispose();

// phases on their own
const ids = tokenizer.encodeBatch([prompt, '']);
let t = performance.now();
const enc = await textEncoder.forward(ids);
ie.synchronize();
const textS = secs(t);
for (const v of Object.values(enc)) if (v instanceof ie.Tensor) v.dispose();
const x = ie.ops.scale(image, 2, -1);
t = performance.now();
const dist = await vae.encode(x);
ie.synchronize();
const encS = secs(t);
const z = ie.randn([1, 4, S / 8, S / 8], { seed: 6 });
t = performance.now();
const dec = await vae.decode(z);
ie.synchronize();
const decS = secs(t);
for (const v of [x, dist.mean, dist.logvar, dist.std, z, dec]) v.dispose();

// whole edits
const editTimes = [];
const stepTimes = [];
for (let i = 0; i < iters; i++) {
  let last = null;
  t = performance.now();
  const r = await editor.edit(image, prompt, {
    steps: job.steps, seed: i,
    onProgress: (p) => {
      if (p.phase !== 'denoise') return;
      const now = performance.now();
      if (p.step > 0 && last !== null) stepTimes.push((now - last) / 1e3);
      last = now;
    },
  });
  const all = await r.images.toArray();
  editTimes.push(secs(t));
  if (!all.every(Number.isFinite)) throw new Error('non-finite output');
  r.dispose();
}
const ru = process.resourceUsage();
console.log(JSON.stringify({
  peer: 'ours', threads, size: S, latent_size: S / 8, steps: job.steps, iters, init_s: initS,
  text_encode_s: textS, vae_encode_s: encS, step_s: median(stepTimes), step_best_s: Math.min(...stepTimes),
  vae_decode_s: decS, edit_s: median(editTimes), edit_times: editTimes, step_times: stepTimes,
  peak_rss_bytes: ru.maxRSS * 1024, cpu_s: (ru.userCPUTime + ru.systemCPUTime) / 1e6,
}));
await editor.dispose();
