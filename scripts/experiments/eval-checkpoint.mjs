// Scores a training checkpoint on a ShapeEdit split: its UNet (and trained text encoder) in the run's pipeline.
// usage: [RUN=runs/plain] [SPLIT=val.jsonl] [CK=checkpoint dir] node eval-checkpoint.mjs WORK DATA N '[[steps, guidance, imageGuidance], ...]' [unet|unet_ema]
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import pathMod from 'node:path';
const require = createRequire(import.meta.url);
const root = pathMod.join(pathMod.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ie = require(pathMod.join(root, 'dist', 'index.js'));
import path from 'node:path';
const [work, data, n, evals, which = 'unet_ema'] = process.argv.slice(2);
ie.setNumThreads(+(process.env.TH ?? 2));
const latest = process.env.CK ?? await ie.latestCheckpoint(path.join(work, process.env.RUN ?? 'run'));
const teWhich = which === 'unet_ema' ? 'text_encoder_ema' : 'text_encoder';
const { existsSync } = await import('node:fs');
const textEncoder = existsSync(path.join(latest, teWhich)) ? path.join(latest, teWhich) : undefined;
const editor = await ie.Editor.fromPretrained(path.join(work, 'pipeline'), { unet: path.join(latest, which), textEncoder });
for (const [st, g, gi] of JSON.parse(evals)) {
  const t1 = performance.now();
  const ev = await ie.shapes.evaluateShapeEdit(path.join(data, process.env.SPLIT ?? 'val.jsonl'), async (src, ins, _r, i) => {
    const r = await editor.edit(src, ins, { steps: st, guidanceScale: g, imageGuidanceScale: gi, seed: i });
    const raw = await r.toRaw(); r.dispose(); return raw.data;
  }, { limit: +n });
  console.log(`${latest} ${which} steps=${st} g=${g}/${gi} ${((performance.now() - t1) / ev.scores.length).toFixed(0)} ms/edit`);
  console.log(ie.shapes.evaluationTable(ev));
}
await editor.dispose();
