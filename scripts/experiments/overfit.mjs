// Overfit probe: how fast a UNet config memorises N training edits (the same batch every step, t = 999,
// no conditioning dropout). A quick check of optimisation speed before a long run (docs/shapeedit.md).
// N <= 32 (the batch is 32 rows cycling over the first N training edits).
// usage: DATA=WORK/data [CFG='{"unet config overrides"}'] [ZERO=regex of params to zero] node overfit.mjs WORK N STEPS LR
//   (WORK/pipeline: a pipeline written by train-shapeedit.mjs; its unet config is the base)
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import pathMod from 'node:path';
const require = createRequire(import.meta.url);
const root = pathMod.join(pathMod.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ie = require(pathMod.join(root, 'dist', 'index.js'));
import path from 'node:path';
import { readFileSync } from 'node:fs';
ie.setNumThreads(2);
const work = process.argv[2]; const N = +(process.argv[3] ?? 1); const steps = +(process.argv[4] ?? 150); const lr = +(process.argv[5] ?? 1e-3);
const pipe = path.join(work, 'pipeline');
const base0 = JSON.parse(readFileSync(path.join(pipe, 'unet', 'config.json'), 'utf8'));
const cfg = { ...base0, ...JSON.parse(process.env.CFG ?? '{}') };
for (const k of Object.keys(cfg)) if (cfg[k] === null) delete cfg[k];
const unet = await ie.UNet2DConditionModel.fromConfig(cfg, { seed: 2 });
if (process.env.ZERO) { const p = unet.parameters(); const re = new RegExp(process.env.ZERO); let n = 0; for (const [k, v] of p) if (re.test(k)) { ie.ops.assign(v, ie.zeros(v.shape)); n++; } console.log('zeroed', n); }
if (cfg.output_skip_channel !== undefined) { const p = unet.parameters(); for (const k of ['conv_out.weight', 'conv_out.bias']) ie.ops.assign(p.get(k), ie.zeros(p.get(k).shape)); }
const te = await ie.CLIPTextModel.fromPretrained(path.join(pipe, 'text_encoder'));
const tok = await ie.CLIPTokenizer.fromPretrained(path.join(pipe, 'tokenizer'));
const ae = ie.PixelUnshuffleAutoencoder.fromPretrained(pipe);
const recs = readFileSync(path.join(process.env.DATA ?? 'data', 'train.jsonl'), 'utf8').trim().split('\n').slice(0, N).map(JSON.parse);
const sharp = require('sharp');
const load = async (f) => { const b = await sharp(path.join(process.env.DATA ?? 'data', f)).removeAlpha().raw().toBuffer(); const a = new Float32Array(3 * 64 * 64); for (let i = 0; i < 4096; i++) for (let c = 0; c < 3; c++) a[c * 4096 + i] = b[i * 3 + c] / 127.5 - 1; return a; };
const cat = (arrs) => { const o = new Float32Array(arrs.length * arrs[0].length); arrs.forEach((a, i) => o.set(a, i * a.length)); return o; };
const B = 32;
const idx = Array.from({ length: B }, (_, i) => i % N);
const src = await Promise.all(recs.map((r) => load(r.source))); const tgt = await Promise.all(recs.map((r) => load(r.target)));
const S = ie.tensor(cat(idx.map((i) => src[i])), [B, 3, 64, 64]); const Tg = ie.tensor(cat(idx.map((i) => tgt[i])), [B, 3, 64, 64]);
const lat = (await ae.encode(Tg)).mean, img = (await ae.encode(S)).mean;
const e = (await te.forward(tok.encodeBatch(idx.map((i) => recs[i].instruction)))).lastHiddenState;
const nul = (await te.forward(tok.encodeBatch(['']))).lastHiddenState;
const sched = ie.createScheduler(JSON.parse(readFileSync(path.join(pipe, 'scheduler', 'scheduler_config.json'), 'utf8')), { className: 'ddpm' });
const tr = new ie.Trainer(unet, { noiseScheduler: sched, lr, conditioningDropout: 0, timestepPower: 100, maxGradNorm: 1 });
const base = await (ie.ops.mseLoss(lat, img)).toArray();
console.log('identity mse', base[0]);
for (let s = 0; s < steps; s++) {
  const r = await tr.step({ latents: lat, imageLatents: img, textEmbeds: e, nullTextEmbeds: nul });
  if (s % 10 === 0) console.log(s, r.loss.toFixed(5), r.gradNorm.toFixed(3));
}
