#!/usr/bin/env node
// The `instructedit` command line. `instructedit edit --model DIR --image in.jpg --instruction "..."
// --out out.png`. Every bad argument or unreadable file ends with one line naming it and exit code 2
// (usage) or 1 (runtime failure); Ctrl-C aborts the edit cleanly.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { DEFAULT_MODEL_DIR, Editor, EditProgress, SCHEDULER_NAMES } from './editor';
import { readTrainConfig, runTraining } from './train/run';
import * as shapes from './shapes';
import { writeFile } from 'node:fs/promises';
import type { SchedulerShortName } from './schedulers';
import type { Device } from './types';

const USAGE = `Usage:
  instructedit edit --image IN --instruction TEXT --out OUT [--model DIR] [options]
  instructedit train --config train.json [--quiet]
  instructedit eval --data test.jsonl [--model DIR] [--unet DIR] [--text-encoder DIR] [--limit N] [--steps N] [--seed N]
                    [--guidance S] [--image-guidance S] [--scheduler NAME] [--out report.md]
                    [--grid grid.png] [--device NAME] [--quiet]

Edit an image as an instruction says, with an InstructPix2Pix pipeline folder (diffusers layout),
or with the built-in ShapeEdit model (64x64 scenes of coloured shapes) when --model is left out.

Options:
  --model DIR            pipeline folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/);
                         default: the built-in ShapeEdit model
  (--steps, --guidance, --image-guidance, --scheduler and --max-pixels default to the model's
   instructedit.json where it has one: 10 DDIM steps at 64x64 for the built-in model)
  --image FILE           input image (JPEG, PNG, WebP, TIFF, GIF, AVIF, ...)
  --instruction TEXT     what to change, e.g. "make it snow"
  --out FILE             output image (.png, .jpg, .webp)
  --steps N              denoising steps (default 20)
  --guidance S           text guidance scale (default 7.5)
  --image-guidance S     image guidance scale (default 1.5)
  --seed N               seed (default 0); the same seed gives the same image
  --scheduler NAME       ${Object.keys(SCHEDULER_NAMES).join(', ')} (default: the model's)
  --negative TEXT        negative prompt (default "")
  --max-pixels N         work at most at this many pixels (default 262144 = 512x512)
  --threads N            CPU threads (default: all cores)
  --device NAME          cpu (default) or cuda[:N]
  --variant NAME         weights variant, e.g. fp16
  --unet DIR             use this UNet folder (e.g. a training checkpoint's unet_ema)
  --text-encoder DIR     use this text encoder folder (a checkpoint's text_encoder_ema)
  --quiet                no progress bar

train: fine-tune a pipeline's UNet (InstructPix2Pix + SuperEdit's triplet loss) as train.json says
  (model, data, output, steps, batchSize, lr, triplet, checkpointEvery, sampleEvery, ... — see the
  README). Resumes from OUTPUT/latest; Ctrl-C writes a checkpoint and exits. Metrics go to
  OUTPUT/metrics.jsonl.

  -h, --help             this help
  -v, --version          the package version`;

class UsageError extends Error {}

function num(v: string | undefined, name: string, integer: boolean, min: number): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (integer && !Number.isSafeInteger(x)) || x < min) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got '${v}'`);
  }
  return x;
}

function progressBar(enabled: boolean): { update(p: EditProgress): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let last = '';
  return {
    update(p) {
      if (!enabled) return;
      const width = 30;
      const frac = p.steps ? p.step / p.steps : 0;
      const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
      const secs = p.elapsedMs / 1000;
      const eta = p.phase === 'denoise' && p.step > 0 ? ` ETA ${((secs / p.step) * (p.steps - p.step)).toFixed(0)}s` : '';
      const line = `${p.phase.padEnd(7)} [${bar}] ${p.step}/${p.steps} ${secs.toFixed(1)}s${eta}`;
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (p.phase !== 'denoise' || p.step === p.steps || line.split(' ')[0] !== last) process.stderr.write(`${line}\n`);
      last = line.split(' ')[0];
    },
    done() {
      if (enabled && tty) process.stderr.write('\n');
    },
  };
}

function checkSchedulerName(name: string | undefined): void {
  if (name !== undefined && !(name in SCHEDULER_NAMES) && !Object.values(SCHEDULER_NAMES).includes(name as never)) {
    throw new UsageError(`--scheduler must be one of ${Object.keys(SCHEDULER_NAMES).join(', ')}, got '${name}'`);
  }
}

async function edit(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      model: { type: 'string' },
      image: { type: 'string' },
      instruction: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      guidance: { type: 'string' },
      'image-guidance': { type: 'string' },
      seed: { type: 'string' },
      scheduler: { type: 'string' },
      negative: { type: 'string' },
      'max-pixels': { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
      variant: { type: 'string' },
      unet: { type: 'string' }, 'text-encoder': { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (values.unet !== undefined && !existsSync(values.unet)) throw new UsageError(`--unet: ${values.unet} does not exist`);
  if (values['text-encoder'] !== undefined && !existsSync(values['text-encoder'])) throw new UsageError(`--text-encoder: ${values['text-encoder']} does not exist`);
  for (const k of ['image', 'instruction', 'out'] as const) {
    if (values[k] === undefined) throw new UsageError(`--${k} is required`);
  }
  const model = values.model ?? DEFAULT_MODEL_DIR;
  const image = values.image as string;
  const out = values.out as string;
  if (!existsSync(model)) {
    throw new UsageError(values.model === undefined ? `the built-in model is missing from this install (${model}); pass --model DIR` : `--model: ${model} does not exist`);
  }
  if (!existsSync(image)) throw new UsageError(`--image: ${image} does not exist`);
  const outDir = path.dirname(path.resolve(out));
  if (!existsSync(outDir)) throw new UsageError(`--out: the folder ${outDir} does not exist`);
  if (!['.png', '.jpg', '.jpeg', '.webp'].includes(path.extname(out).toLowerCase())) {
    throw new UsageError(`--out: use a .png, .jpg or .webp file name, got '${out}'`);
  }
  checkSchedulerName(values.scheduler);
  const steps = num(values.steps, 'steps', true, 1);
  const guidanceScale = num(values.guidance, 'guidance', false, 0);
  const imageGuidanceScale = num(values['image-guidance'], 'image-guidance', false, 0);
  const seed = num(values.seed, 'seed', true, 0);
  const maxPixels = num(values['max-pixels'], 'max-pixels', true, 64);
  const threads = num(values.threads, 'threads', true, 1);

  const bar = progressBar(!values.quiet);
  const t0 = performance.now();
  const editor = await Editor.fromPretrained(model, { threads, variant: values.variant, unet: values.unet, textEncoder: values['text-encoder'], device: cliDevice(values.device) });
  const loadS = (performance.now() - t0) / 1000;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    const result = await editor.edit(image, values.instruction as string, {
      steps, guidanceScale, imageGuidanceScale, seed, maxPixels, scheduler: values.scheduler as SchedulerShortName | undefined,
      negativePrompt: values.negative, signal: abort.signal, onProgress: (p) => bar.update(p),
    });
    bar.done();
    await result.save(out);
    if (!values.quiet) {
      process.stderr.write(`wrote ${out} (${result.width}x${result.height}); load ${loadS.toFixed(1)}s, ` +
        `total ${((performance.now() - t0) / 1000).toFixed(1)}s\n`);
    }
    result.dispose();
  } finally {
    process.off('SIGINT', onSigint);
    await editor.dispose();
  }
}

/** --device: 'cpu', 'cuda' or 'cuda:N' (a usage error otherwise). */
function cliDevice(v: string | undefined): Device | undefined {
  if (v === undefined) return undefined;
  if (!/^(cpu|cuda(:\d{1,3})?)$/.test(v)) throw new UsageError(`--device: expected cpu, cuda or cuda:N, got '${v}'`);
  return v as Device;
}

async function evaluate(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: {
    model: { type: 'string' }, data: { type: 'string' }, unet: { type: 'string' }, 'text-encoder': { type: 'string' }, limit: { type: 'string' },
    steps: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' }, grid: { type: 'string' },
    guidance: { type: 'string' }, 'image-guidance': { type: 'string' }, scheduler: { type: 'string' },
    threads: { type: 'string' }, device: { type: 'string' }, quiet: { type: 'boolean' } } });
  if (values.data === undefined) throw new UsageError('--data is required');
  values.model ??= DEFAULT_MODEL_DIR;
  for (const k of ['model', 'data', 'unet'] as const) {
    if (values[k] !== undefined && !existsSync(values[k] as string)) throw new UsageError(`--${k}: ${values[k]} does not exist`);
  }
  const limit = num(values.limit, 'limit', true, 1);
  const steps = num(values.steps, 'steps', true, 1);
  const seed = num(values.seed, 'seed', true, 0) ?? 0;
  const guidanceScale = num(values.guidance, 'guidance', false, 0);
  const imageGuidanceScale = num(values['image-guidance'], 'image-guidance', false, 0);
  checkSchedulerName(values.scheduler);
  const scheduler = values.scheduler as SchedulerShortName | undefined;
  const editor = await Editor.fromPretrained(values.model as string, { unet: values.unet, textEncoder: values['text-encoder'] as string | undefined, threads: num(values.threads, 'threads', true, 1), device: cliDevice(values.device) });
  const outputs: Uint8Array[] = [];
  try {
    const ev = await shapes.evaluateShapeEdit(values.data as string, async (src, instruction, _r, i) => {
      const res = await editor.edit(src, instruction, { steps, seed: seed + i, guidanceScale, imageGuidanceScale, scheduler });
      const raw = await res.toRaw();
      res.dispose();
      outputs.push(raw.data);
      return raw.data;
    }, { limit, onProgress: (d, n) => { if (!values.quiet) process.stderr.write(`\reval ${d}/${n}\x1b[K`); } });
    if (!values.quiet) process.stderr.write('\n');
    const table = shapes.evaluationTable(ev);
    process.stdout.write(table);
    const d = { ...editor.editDefaults, ...Object.fromEntries(Object.entries({ steps, guidanceScale, imageGuidanceScale, scheduler }).filter(([, v]) => v !== undefined)) };
    const settings = `steps: ${d.steps ?? 20}; guidance: ${d.guidanceScale ?? 7.5}/${d.imageGuidanceScale ?? 1.5}; scheduler: ${d.scheduler ?? String(editor.schedulerConfig._class_name)}; seed: ${seed}`;
    if (values.out) await writeFile(values.out, `# ShapeEdit evaluation\n\nmodel: ${values.model}${values.unet ? ` (unet ${values.unet})` : ''}; data: ${values.data}; ${settings}\n\n${table}`);
    if (values.grid) await shapes.evaluationGrid(values.data as string, outputs, values.grid);
    return 0;
  } finally {
    await editor.dispose();
  }
}

async function train(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, allowPositionals: false,
    options: { config: { type: 'string' }, quiet: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.config === undefined) throw new UsageError('--config is required');
  if (!existsSync(values.config)) throw new UsageError(`--config: ${values.config} does not exist`);
  const config = readTrainConfig(values.config); // config errors before anything loads
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130); // a second Ctrl-C: stop without the checkpoint
    process.stderr.write('\ninterrupt: finishing this step and writing a checkpoint (Ctrl-C again to quit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true && !values.quiet;
  try {
    const r = await runTraining(config, {
      signal: abort.signal,
      onProgress: (p) => {
        if (values.quiet) return;
        if (p.event) {
          process.stderr.write(`${tty ? '\n' : ''}${p.event}: ${p.detail ?? ''}\n`);
          return;
        }
        const res = p.result;
        if (!res || !res.updated) return;
        const eta = Number.isFinite(p.etaSeconds) ? `${Math.round(p.etaSeconds)}s` : '?';
        const line = `step ${p.step}/${p.steps} loss ${res.loss.toFixed(4)} (mse ${res.mse.toFixed(4)} triplet ${res.triplet.toFixed(4)}) ` +
          `lr ${res.lr.toExponential(2)} ${p.stepsPerSecond.toFixed(2)} it/s ETA ${eta}${res.skipped ? ` SKIPPED (${res.skipReason})` : ''}`;
        process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
      },
    });
    if (!values.quiet) process.stderr.write(`${tty ? '\n' : ''}${r.interrupted ? 'interrupted' : 'done'} at step ${r.step}; checkpoints in ${r.output}\n`);
    return r.interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    }
    if (cmd === '-v' || cmd === '--version') {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      process.stdout.write(`${require('../package.json').version}\n`);
      return 0;
    }
    if (cmd === 'train') return await train(rest);
    if (cmd === 'eval') return await evaluate(rest);
    if (cmd !== 'edit') throw new UsageError(`unknown command '${cmd}' (commands: edit, train, eval)`);
    await edit(rest);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    const usage = e instanceof UsageError || (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS'));
    process.stderr.write(`\ninstructedit: ${err.name === 'AbortError' ? 'interrupted' : err.message}\n`);
    if (usage) process.stderr.write(`Run 'instructedit --help' for usage.\n`);
    return usage ? 2 : err.name === 'AbortError' ? 130 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
