#!/usr/bin/env node
// Retrains the built-in ShapeEdit model from recipes/shapeedit.json, end to end, with the package's
// own trainer and kernels:
//   1. generate the ShapeEdit dataset (WORK/data: train/val, WORK/data-test: the test split from its
//      own seed; skipped when present),
//   2. write a fresh pipeline (PixelUnshuffle autoencoder, UNet, text encoder, its own tokenizer) in
//      WORK/pipeline — or one initialised from a trained model with --init-from,
//   3. train each variant, same seed and data order: plain InstructPix2Pix (WORK/runs/plain) and with
//      SuperEdit's triplet loss (WORK/runs/triplet); a rerun resumes from the latest checkpoint, and
//      --max-minutes stops a run (with a checkpoint) to continue later,
//   4. evaluate the EMA weights of each run on the test split (or --split val) (WORK/eval-<variant>.md,
//      .json, -grid.png; and the identity for scale, WORK/eval-identity.md),
//   5. with --ship VARIANT: write that run's EMA UNet and text encoder and the pipeline as fp16 into
//      models/shapeedit (the package's built-in model, Editor.default()) with its edit defaults and
//      provenance.
// usage: node scripts/train-shapeedit.mjs --work DIR [--variants plain,triplet] [--init-from DIR] [--max-minutes M]
//        [--skip-train] [--skip-eval] [--split test|val] [--eval-limit N] [--ship plain|triplet]
import { existsSync, readFileSync, promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import os from 'node:os';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
if (!existsSync(path.join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build:ts` first');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const ie = require(path.join(root, 'dist', 'index.js'));
const sharp = require('sharp');
const usage = 'usage: node scripts/train-shapeedit.mjs --work DIR [--recipe FILE] [--variants plain,triplet] [--init-from DIR] [--max-minutes M] [--skip-train] [--skip-eval] [--split test|val] [--eval-limit N] [--ship plain|triplet]';
let values;
try {
  ({ values } = parseArgs({ strict: true, options: {
    work: { type: 'string' }, recipe: { type: 'string' }, variants: { type: 'string' },
    'skip-eval': { type: 'boolean' }, 'skip-train': { type: 'boolean' }, ship: { type: 'string' }, 'eval-limit': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    'max-minutes': { type: 'string' }, split: { type: 'string' }, 'init-from': { type: 'string' },
  } }));
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
if (values.help || !values.work) {
  console.error(usage);
  process.exit(values.help ? 0 : 2);
}
const work = path.resolve(values.work);
const recipeFile = path.resolve(values.recipe ?? path.join(root, 'recipes', 'shapeedit.json'));
const recipe = JSON.parse(readFileSync(recipeFile, 'utf8'));
const variants = (values.variants ?? 'plain,triplet').split(',');
for (const v of [...variants, ...(values.ship ? [values.ship] : [])]) {
  if (v !== 'plain' && v !== 'triplet') { console.error(`unknown variant '${v}' (plain, triplet)`); process.exit(2); }
}
const log = (s) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
log(`host: ${os.cpus()[0]?.model ?? '?'} ×${os.cpus().length}, node ${process.version}, recipe ${recipeFile}`);

// 1. data: train and val from one seed, the test split from another seed (never used in training).
const dataDir = path.join(work, 'data');
const testDir = path.join(work, 'data-test');
const d = recipe.data;
if (!existsSync(path.join(dataDir, 'val.jsonl'))) {
  const t0 = Date.now();
  await ie.shapes.generateShapeEdit({ outDir: dataDir, seed: d.seed, size: d.size, negatives: d.negatives, splits: { train: d.train, val: d.val, test: 0 } });
  log(`data: ${d.train}/${d.val} train/val edits (seed ${d.seed}) at ${d.size} px in ${((Date.now() - t0) / 1e3).toFixed(0)} s`);
}
if (!existsSync(path.join(testDir, 'test.jsonl'))) {
  await ie.shapes.generateShapeEdit({ outDir: testDir, seed: d.testSeed, size: d.size, negatives: d.negatives, splits: { train: 0, val: 0, test: d.test } });
  log(`data: ${d.test} test edits (seed ${d.testSeed})`);
}

// 2. pipeline (the tokenizer learns its BPE from every training instruction and negative)
const pipeline = path.join(work, 'pipeline');
if (!existsSync(path.join(pipeline, 'model_index.json'))) {
  const records = readFileSync(path.join(dataDir, 'train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const corpus = records.flatMap((r) => [r.instruction, ...(r.negatives ?? [])]);
  await ie.newPipeline(pipeline, { ...recipe.pipeline, tokenizerCorpus: corpus });
  log(`pipeline: ${pipeline}`);
  // --init-from DIR: continue from a trained model of this recipe (e.g. the shipped models/shapeedit):
  // its UNet, text encoder and tokenizer replace the random ones (float32 again); the optimizer
  // starts afresh at step 0. This is how a run continues on another machine or in a later session.
  if (values['init-from']) {
    const from = path.resolve(values['init-from']);
    const f32 = async (src, dst) => {
      const t = await ie.loadSafetensors(src, { dtype: 'float32' });
      await ie.saveSafetensors(dst, t, { metadata: { format: 'pt' } });
      for (const x of Object.values(t)) x.dispose();
    };
    await f32(path.join(from, 'unet', 'diffusion_pytorch_model.safetensors'), path.join(pipeline, 'unet', 'diffusion_pytorch_model.safetensors'));
    await f32(path.join(from, 'text_encoder', 'model.safetensors'), path.join(pipeline, 'text_encoder', 'model.safetensors'));
    for (const sub of ['unet/config.json', 'text_encoder/config.json']) await fsp.copyFile(path.join(from, sub), path.join(pipeline, sub));
    await fsp.rm(path.join(pipeline, 'tokenizer'), { recursive: true });
    await fsp.cp(path.join(from, 'tokenizer'), path.join(pipeline, 'tokenizer'), { recursive: true });
    log(`pipeline: initialised from ${from}`);
  }
}

// 3. training
for (const v of values['skip-train'] ? [] : variants) {
  const output = path.join(work, 'runs', v);
  const t0 = performance.now();
  let last = 0;
  // --max-minutes: stop after this much training (a checkpoint is written); a rerun resumes from it.
  const stop = new AbortController();
  const timer = values['max-minutes'] ? setTimeout(() => stop.abort(), Number(values['max-minutes']) * 60e3) : null;
  const res = await ie.runTraining({
    ...recipe.train, model: pipeline, data: path.join(dataDir, 'train.jsonl'), output,
    triplet: v === 'triplet' ? recipe.triplet : null,
  }, { signal: stop.signal, onProgress: (p) => {
    if (p.event) log(`${v}: ${p.event} ${p.detail ?? ''}`);
    else if (p.result && (p.step % 50 === 0 || p.step === p.steps) && p.step !== last) {
      last = p.step;
      const r = p.result;
      log(`${v}: step ${p.step}/${p.steps} loss ${r.loss.toFixed(4)} mse ${r.mse.toFixed(4)}${r.tripletActive ? ` triplet ${r.triplet.toFixed(5)}` : ''} ` +
        `lr ${r.lr.toExponential(2)} ${p.stepsPerSecond.toFixed(2)} step/s eta ${(p.etaSeconds / 60).toFixed(0)} min`);
    }
  } });
  if (timer) clearTimeout(timer);
  const minutes = (performance.now() - t0) / 60e3;
  await fsp.appendFile(path.join(output, 'timing.jsonl'), `${JSON.stringify({ step: res.step, minutes, cpu: os.cpus()[0]?.model, cores: os.cpus().length, threads: recipe.train.threads, at: new Date().toISOString() })}\n`);
  log(`${v}: reached step ${res.step} (${minutes.toFixed(1)} min this run)`);
}

// A checkpoint's trained text encoder (its EMA when there is one), or undefined (frozen: the pipeline's).
function trainedTextEncoder(checkpoint) {
  for (const sub of ['text_encoder_ema', 'text_encoder']) if (existsSync(path.join(checkpoint, sub, 'config.json'))) return path.join(checkpoint, sub);
  return undefined;
}

// 4. evaluation on the test split with the EMA UNet of each run
if (!values['skip-eval']) {
  const e = recipe.eval;
  // --split val: the validation split (for choosing settings); default the test split (the report).
  const split = values.split ?? 'test';
  if (split !== 'test' && split !== 'val') { console.error(`--split must be test or val, got '${split}'`); process.exit(2); }
  const evalManifest = split === 'val' ? path.join(dataDir, 'val.jsonl') : path.join(testDir, 'test.jsonl');
  const tag = split === 'val' ? '-val' : '';
  const limit = values['eval-limit'] === undefined ? undefined : Number(values['eval-limit']);
  // For scale: the identity (the source returned unchanged) scores 0% following by construction.
  const identity = await ie.shapes.evaluateShapeEdit(evalManifest, async (src) => new Uint8Array(await sharp(src).removeAlpha().raw().toBuffer()), { limit });
  await fsp.writeFile(path.join(work, `eval-identity${tag}.md`), `${ie.shapes.evaluationTable(identity)}\n(the source returned unchanged)\n`);
  for (const v of variants) {
    const latest = await ie.latestCheckpoint(path.join(work, 'runs', v));
    const unet = path.join(latest, existsSync(path.join(latest, 'unet_ema')) ? 'unet_ema' : 'unet');
    const textEncoder = trainedTextEncoder(latest);
    const editor = await ie.Editor.fromPretrained(pipeline, { unet, textEncoder, threads: recipe.train.threads });
    const outputs = [];
    const t0 = performance.now();
    try {
      const ev = await ie.shapes.evaluateShapeEdit(evalManifest, async (src, instruction, _r, i) => {
        const r = await editor.edit(src, instruction, { steps: e.steps, guidanceScale: e.guidanceScale, imageGuidanceScale: e.imageGuidanceScale, seed: e.seed + i });
        const raw = await r.toRaw();
        r.dispose();
        outputs.push(raw.data);
        return raw.data;
      }, { limit });
      const table = ie.shapes.evaluationTable(ev);
      const secs = (performance.now() - t0) / 1e3;
      await fsp.writeFile(path.join(work, `eval-${v}${tag}.md`), `${table}\n(${ev.scores.length} ${split} edits, ${e.steps} DDIM steps, guidance ${e.guidanceScale}/${e.imageGuidanceScale}, ${(secs / ev.scores.length).toFixed(3)} s per edit = ${(ev.scores.length / secs).toFixed(1)} edits/s incl. PNG decoding and scoring)\n`);
      await fsp.writeFile(path.join(work, `eval-${v}${tag}.json`), JSON.stringify({ rows: ev.rows, unet, textEncoder, eval: e, secondsPerEdit: secs / ev.scores.length, scores: ev.scores }, null, 2));
      await ie.shapes.evaluationGrid(evalManifest, outputs, path.join(work, `eval-${v}${tag}-grid.png`));
      log(`${v}: evaluated ${ev.scores.length} test edits in ${secs.toFixed(0)} s\n${table}`);
    } finally {
      await editor.dispose();
    }
  }
}

// 5. ship: fp16 weights of the chosen run's EMA UNet + the frozen text encoder, tokenizer, scheduler.
if (values.ship) {
  const v = values.ship;
  const dest = path.join(root, 'models', 'shapeedit');
  const tmp = `${dest}.tmp-${process.pid}`;
  await fsp.rm(tmp, { recursive: true, force: true });
  const latest = await ie.latestCheckpoint(path.join(work, 'runs', v));
  const unetDir = path.join(latest, existsSync(path.join(latest, 'unet_ema')) ? 'unet_ema' : 'unet');
  const half = async (from, to) => {
    const t = await ie.loadSafetensors(from, { dtype: 'float16' });
    await fsp.mkdir(path.dirname(to), { recursive: true });
    await ie.saveSafetensors(to, t, { metadata: { format: 'pt' } });
    for (const x of Object.values(t)) x.dispose();
  };
  await half(path.join(unetDir, 'diffusion_pytorch_model.safetensors'), path.join(tmp, 'unet', 'diffusion_pytorch_model.safetensors'));
  await fsp.copyFile(path.join(unetDir, 'config.json'), path.join(tmp, 'unet', 'config.json'));
  const teDir = trainedTextEncoder(latest) ?? path.join(pipeline, 'text_encoder');
  await half(path.join(teDir, 'model.safetensors'), path.join(tmp, 'text_encoder', 'model.safetensors'));
  await fsp.copyFile(path.join(teDir, 'config.json'), path.join(tmp, 'text_encoder', 'config.json'));
  await fsp.cp(path.join(pipeline, 'vae'), path.join(tmp, 'vae'), { recursive: true }).catch(() => undefined); // none in pixel space
  await fsp.cp(path.join(pipeline, 'tokenizer'), path.join(tmp, 'tokenizer'), { recursive: true });
  await fsp.cp(path.join(pipeline, 'scheduler'), path.join(tmp, 'scheduler'), { recursive: true });
  await fsp.copyFile(path.join(pipeline, 'model_index.json'), path.join(tmp, 'model_index.json'));
  const e = recipe.eval;
  await fsp.writeFile(path.join(tmp, 'instructedit.json'), `${JSON.stringify({
    _comment: 'Edit defaults for this model (Editor.edit options left out fall back to these).',
    editDefaults: { steps: e.steps, guidanceScale: e.guidanceScale, imageGuidanceScale: e.imageGuidanceScale, maxPixels: recipe.data.size ** 2 },
  }, null, 2)}\n`);
  // One line per training invocation that ended normally (a killed run leaves none).
  const timingFile = path.join(work, 'runs', v, 'timing.jsonl');
  const timing = existsSync(timingFile) ? readFileSync(timingFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
  const evalFile = path.join(work, `eval-${v}.json`);
  // Provenance, and the test edits the model follows (at most two per edit type, by index in the
  // test split): tests/default_model.test.ts regenerates them from `data` and checks them again.
  const evaluated = existsSync(evalFile) ? JSON.parse(readFileSync(evalFile, 'utf8')) : null;
  const followedTestEdits = [];
  for (const type of ie.shapes.EDIT_TYPES) {
    const ok = (evaluated?.scores ?? []).filter((x) => x.edit === type && x.follows).slice(0, 2);
    for (const x of ok) followedTestEdits.push([Number(x.id.split('-')[1]), x.instruction]);
  }
  await fsp.writeFile(path.join(tmp, 'training.json'), `${JSON.stringify({
    variant: v, checkpoint: path.basename(latest), recipe: path.relative(root, recipeFile), trainingRuns: timing,
    data: { seed: recipe.data.testSeed, size: recipe.data.size, negatives: recipe.data.negatives, test: recipe.data.test },
    evaluation: evaluated ? evaluated.rows : null, followedTestEdits,
  }, null, 2)}\n`);
  await fsp.rm(dest, { recursive: true, force: true });
  await fsp.rename(tmp, dest);
  log(`shipped ${v} (${path.basename(latest)}) to ${dest}`);

  // The README example: examples/scene.png (from examples/scene.json), the shipped model's edit, and
  // 4× nearest-neighbour enlargements of both for display.
  const ex = JSON.parse(readFileSync(path.join(root, 'examples', 'scene.json'), 'utf8'));
  const size = recipe.data.size;
  await fsp.writeFile(path.join(root, 'examples', 'scene.png'), await ie.shapes.renderScenePNG(ex.source, { size }));
  const editor = await ie.Editor.default({ threads: recipe.train.threads });
  try {
    const r = await editor.edit(path.join(root, 'examples', 'scene.png'), ex.instruction);
    await r.save(path.join(root, 'examples', 'out.png'));
    const raw = await r.toRaw();
    r.dispose();
    const check = await ie.shapes.checkEdit(ex.source, ex.target, raw.data);
    log(`README example '${ex.instruction}': attribute check ${check.pass ? 'passes' : 'FAILS'}`);
  } finally {
    await editor.dispose();
  }
  for (const name of ['scene', 'out']) {
    await sharp(path.join(root, 'examples', `${name}.png`)).resize(size * 4, size * 4, { kernel: 'nearest' }).png().toFile(path.join(root, 'examples', `${name}-4x.png`));
  }
}
