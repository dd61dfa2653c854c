// Training checkpoints: the UNet (and its EMA) in diffusers' layout and naming — loadable by
// UNet2DConditionModel.fromPretrained, the Editor and diffusers — plus the optimizer moments and the
// trainer/data state needed to resume exactly.
//
// Atomicity: a checkpoint is written into a temporary folder (every file itself written to a temp
// name, fsynced and renamed by saveSafetensors), the folder is renamed to `checkpoint-<step>`, and
// only then is the `latest` pointer replaced (temp file + rename). A crash at any point leaves the
// previous checkpoint and the pointer to it intact; leftovers are `.tmp-*` folders, ignored and
// cleaned up by the next save.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

import { loadSafetensors, saveSafetensors } from '../io/safetensors';
import { assign } from '../ops';
import { CLIPTextModel } from '../models/clip_text';
import { UNet2DConditionModel } from '../models/unet';
import { Tensor } from '../tensor';
import { Trainer, TrainerState } from './trainer';

export interface CheckpointState extends TrainerState {
  /** The data loader's position (whatever its state() returns), to resume at the same record. */
  data?: unknown;
  /** Anything else the caller wants back on resume (must be JSON). */
  extra?: unknown;
}

export interface SaveCheckpointOptions {
  /** Keep this many newest checkpoints, deleting older ones (default 2; 0 = keep all). */
  keep?: number;
  data?: unknown;
  extra?: unknown;
}

const LATEST = 'latest';

async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function saveModel(dir: string, unet: UNet2DConditionModel, views: Map<string, Tensor>): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const config = { _class_name: 'UNet2DConditionModel', ...unet.config };
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await saveSafetensors(path.join(dir, 'diffusion_pytorch_model.safetensors'), Object.fromEntries(views), { metadata: { format: 'pt' } });
}

async function saveTextEncoder(dir: string, te: CLIPTextModel, views: Map<string, Tensor>): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  const config = { architectures: ['CLIPTextModel'], ...te.config };
  await writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await saveSafetensors(path.join(dir, 'model.safetensors'), Object.fromEntries(views), { metadata: { format: 'pt' } });
}

/**
 * Writes `root/checkpoint-<step>/` {unet/, unet_ema/ (with EMA), text_encoder/ and text_encoder_ema/
 * (when the trainer trains its text encoder), optimizer.safetensors, trainer_state.json} atomically
 * and points `root/latest` at it. Returns the folder.
 */
export async function saveCheckpoint(root: string, trainer: Trainer, options: SaveCheckpointOptions = {}): Promise<string> {
  const st = trainer.state;
  const name = `checkpoint-${String(st.step).padStart(7, '0')}`;
  await fsp.mkdir(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${name}-${process.pid}`);
  await fsp.rm(tmp, { recursive: true, force: true });
  await fsp.mkdir(tmp);
  const unet = trainer.unet;
  const views: Tensor[] = [];
  const track = (m: Map<string, Tensor>) => {
    views.push(...m.values());
    return m;
  };
  try {
    await saveModel(path.join(tmp, 'unet'), unet, track(unet.parameters()));
    const ema = trainer.emaParameters();
    if (ema) await saveModel(path.join(tmp, 'unet_ema'), unet, track(unet.viewsOf(ema)));
    const { m, v } = trainer.optimizerState();
    const opt: Record<string, Tensor> = { m, v };
    const te = trainer.textEncoder;
    if (te) {
      await saveTextEncoder(path.join(tmp, 'text_encoder'), te, track(te.parameters()));
      const tema = trainer.textEncoderEmaParameters();
      if (tema) await saveTextEncoder(path.join(tmp, 'text_encoder_ema'), te, track(te.viewsOf(tema)));
      const ts = trainer.textEncoderOptimizerState()!;
      opt.text_m = ts.m;
      opt.text_v = ts.v;
    }
    await saveSafetensors(path.join(tmp, 'optimizer.safetensors'), opt, { metadata: { format: 'instructedit-adamw' } });
    const state: CheckpointState = { ...st, data: options.data, extra: options.extra };
    await writeFileAtomic(path.join(tmp, 'trainer_state.json'), `${JSON.stringify(state, null, 2)}\n`);
    await fsyncDir(tmp);
    const final = path.join(root, name);
    await fsp.rm(final, { recursive: true, force: true });
    await fsp.rename(tmp, final);
    await fsyncDir(root);
    await writeFileAtomic(path.join(root, LATEST), `${name}\n`);
    await fsyncDir(root);
    await prune(root, name, options.keep ?? 2);
    return final;
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  } finally {
    for (const t of views) t.dispose();
  }
}

async function prune(root: string, current: string, keep: number): Promise<void> {
  const entries = await fsp.readdir(root);
  for (const e of entries) {
    if (e.startsWith('.tmp-') && !e.includes(`-${process.pid}`)) await fsp.rm(path.join(root, e), { recursive: true, force: true });
  }
  if (keep <= 0) return;
  const cks = entries.filter((e) => /^checkpoint-\d+$/.test(e)).sort();
  for (const old of cks.slice(0, Math.max(0, cks.length - keep))) {
    if (old !== current) await fsp.rm(path.join(root, old), { recursive: true, force: true });
  }
}

/** The folder `root/latest` points at, or null when there is no checkpoint yet. */
export async function latestCheckpoint(root: string): Promise<string | null> {
  let name: string;
  try {
    name = (await fsp.readFile(path.join(root, LATEST), 'utf8')).trim();
  } catch {
    return null;
  }
  if (!/^checkpoint-\d+$/.test(name)) throw new Error(`latestCheckpoint: ${path.join(root, LATEST)} is corrupt ('${name}')`);
  return path.join(root, name);
}

/**
 * Loads a checkpoint folder (or a root with `latest`) into an existing trainer: the UNet's
 * parameters, EMA, optimizer moments and step. Resolves to the saved state (incl. data position).
 */
export async function loadCheckpoint(dirOrRoot: string, trainer: Trainer): Promise<CheckpointState> {
  const op = 'loadCheckpoint';
  const dir = (await latestCheckpoint(dirOrRoot)) ?? dirOrRoot;
  let state: CheckpointState;
  try {
    state = JSON.parse(await fsp.readFile(path.join(dir, 'trainer_state.json'), 'utf8')) as CheckpointState;
  } catch (e) {
    throw new Error(`${op}: ${dir} is not a readable checkpoint (trainer_state.json: ${(e as Error).message})`);
  }
  const unet = trainer.unet;
  const load = async (sub: string, into: Map<string, Tensor>, file = 'diffusion_pytorch_model.safetensors') => {
    const w = await loadSafetensors(path.join(dir, sub, file), { device: unet.device });
    try {
      for (const [name, view] of into) {
        const t = w[name];
        if (!t) throw new Error(`${op}: ${sub} has no ${name}`);
        if (t.shape.join() !== view.shape.join()) throw new Error(`${op}: ${sub}/${name} has shape [${t.shape}], the model [${view.shape}]`);
        assign(view, t);
      }
    } finally {
      for (const t of Object.values(w)) t.dispose();
      for (const t of into.values()) t.dispose();
    }
  };
  await load('unet', unet.parameters());
  const ema = trainer.emaParameters();
  if (ema) await load('unet_ema', unet.viewsOf(ema));
  const te = trainer.textEncoder;
  if (te) {
    await load('text_encoder', te.parameters(), 'model.safetensors');
    const tema = trainer.textEncoderEmaParameters();
    if (tema) await load('text_encoder_ema', te.viewsOf(tema), 'model.safetensors');
  }
  const opt = await loadSafetensors(path.join(dir, 'optimizer.safetensors'), { device: unet.device });
  try {
    trainer.restore(state, { m: opt.m, v: opt.v, textM: opt.text_m, textV: opt.text_v });
  } finally {
    for (const t of Object.values(opt)) t.dispose();
  }
  return state;
}
