// What the model benchmarks share: finding a Python with PyTorch for the peers, and the
// random-weight SD1.5-size UNet file every full-model benchmark loads (made once).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** A python3 that imports torch and numpy (INSTRUCTEDIT_TORCH_PYTHON first), or null. */
export function findTorchPython() {
  for (const py of [process.env.INSTRUCTEDIT_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    if (spawnSync(py, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0) return py;
  }
  return null;
}

/** Makes sure `dir` holds the random SD1.5 UNet (writing it with PyTorch if missing); exits if it cannot. */
export function ensureUnetWeights(benchDir, dir, py, env) {
  if (existsSync(path.join(dir, 'diffusion_pytorch_model.safetensors'))) return;
  if (!py) {
    console.error('the UNet weights are missing and generating them needs python3-torch');
    process.exit(2);
  }
  process.stderr.write('setup: writing the random-weight SD1.5-size UNet (once, ~20 s, 3.4 GB)\n');
  const r = spawnSync(py, [path.join(benchDir, 'peers', 'make_unet_weights.py'), '--out', dir], { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(1);
}
