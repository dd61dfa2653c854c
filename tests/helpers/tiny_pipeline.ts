// Lays out the parity fixtures' tiny models as a diffusers InstructPix2Pix pipeline folder
// (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/), weights symlinked.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const shared = process.env.IE_SHARED_DIR ?? path.join(__dirname, '..', '..', '..', 'shared');
export const parity = path.join(shared, 'parity');
export const haveParity = fs.existsSync(path.join(parity, 'pipeline_ip2p_euler_ancestral'));

export function manifest(): any {
  return JSON.parse(fs.readFileSync(path.join(parity, 'manifest.json'), 'utf8').replace(/-Infinity/g, 'null'));
}

function writeJson(file: string, v: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(v, null, 2));
}

/** Creates the pipeline folder under `dir` and returns its path. */
export function makeTinyPipeline(dir: string): string {
  const m = manifest();
  const f = m.fixtures;
  const root = path.join(dir, 'tiny-ip2p');
  writeJson(path.join(root, 'model_index.json'), {
    _class_name: 'StableDiffusionInstructPix2PixPipeline',
    _diffusers_version: '0.30.3',
    scheduler: ['diffusers', 'EulerAncestralDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModel'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: ['diffusers', 'UNet2DConditionModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  });
  writeJson(path.join(root, 'unet', 'config.json'), { _class_name: 'UNet2DConditionModel', ...f.unet_tiny2.config });
  fs.symlinkSync(path.join(parity, 'unet_tiny2', 'unet.safetensors'), path.join(root, 'unet', 'diffusion_pytorch_model.safetensors'));
  writeJson(path.join(root, 'vae', 'config.json'), { _class_name: 'AutoencoderKL', ...f.vae_tiny2.config });
  fs.symlinkSync(path.join(parity, 'vae_tiny2', 'vae.safetensors'), path.join(root, 'vae', 'diffusion_pytorch_model.safetensors'));
  writeJson(path.join(root, 'text_encoder', 'config.json'), { architectures: ['CLIPTextModel'], ...f.clip_text_tiny.config });
  fs.symlinkSync(path.join(parity, 'clip_text_tiny', 'text_encoder.safetensors'), path.join(root, 'text_encoder', 'model.safetensors'));
  fs.mkdirSync(path.join(root, 'tokenizer'));
  for (const name of ['vocab.json', 'merges.txt']) {
    fs.symlinkSync(path.join(parity, 'clip_tokenizer_tiny', name), path.join(root, 'tokenizer', name));
  }
  const sched = f.pipeline_ip2p_euler_ancestral.scheduler;
  writeJson(path.join(root, 'scheduler', 'scheduler_config.json'), { _class_name: sched.class, ...sched.config });
  return root;
}
