// Schedulers through the public API: parity with diffusers 0.30.3 for all six fixtures in
// ../shared/parity/schedulers (schedules and whole step loops fed with the recorded model outputs and
// noises), add_noise, noise determinism, configs from folders and files, clones, bad calls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tensor, tensor, randn, loadSafetensors, createScheduler, Scheduler } from '../src';
import { relErr } from './reference';
import { parityDir, parityManifest } from './fixtures';

const dir = path.join(parityDir, 'schedulers');
const haveFixture = fs.existsSync(dir);
const manifest = haveFixture ? parityManifest() : null;
const entries: Record<string, { class: string; config: Record<string, unknown>; num_inference_steps: number; init_noise_sigma: number }> =
  manifest?.fixtures.schedulers.schedulers ?? {};
const NAMES = ['ddpm', 'ddim', 'euler', 'euler_ancestral', 'dpmsolver_multistep', 'lcm'];

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-sched-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const arr = async (t: Tensor) => (await t.toArray()) as Float32Array;
const at = (t: Tensor, i: number): Tensor => {
  const inner = t.shape.slice(1);
  const n = inner.reduce((a, b) => a * b, 1);
  return tensor((t.toArraySync() as Float32Array).slice(i * n, (i + 1) * n), inner);
};
const configOf = (name: string) => ({ _class_name: entries[name].class, ...entries[name].config });

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) || 1));
  return w;
}

describe.skipIf(!haveFixture)('scheduler parity with diffusers', () => {
  for (const name of NAMES) {
    it(`${name}: set_timesteps(20), then the recorded loop step by step`, async () => {
      const f = await loadSafetensors(path.join(dir, `${name}.safetensors`));
      const s = createScheduler(configOf(name));
      expect(s.className).toBe(entries[name].class);
      s.setTimesteps(20);
      const t20 = await f.timesteps_20.toArray();
      if (f.timesteps_20.dtype === 'int32') expect(Array.from(s.timesteps)).toEqual(Array.from(t20));
      else expect(maxRel(s.timesteps, t20)).toBeLessThan(1e-6);
      if (f.sigmas_20) expect(maxRel(s.sigmas, await f.sigmas_20.toArray())).toBeLessThan(1e-6);

      const steps = entries[name].num_inference_steps;
      s.setTimesteps(steps);
      expect(s.timesteps.length).toBe(steps);
      expect(Math.abs(s.initNoiseSigma - entries[name].init_noise_sigma)).toBeLessThan(1e-6 * entries[name].init_noise_sigma);
      expect(maxRel(s.timesteps, await f.timesteps.toArray())).toBeLessThan(1e-6);
      let x = at(f.samples, 0);
      for (let i = 0; i < steps; i++) {
        const t = s.timesteps[i];
        expect(s.stepIndex).toBe(i === 0 ? -1 : i);
        const xin = s.scaleModelInput(x, t);
        expect(relErr(await arr(xin), await arr(at(f.scaled_inputs, i)))).toBeLessThan(1e-5);
        const out = s.step(at(f.model_outputs, i), t, x, { noise: at(f.noises, i) });
        expect(relErr(await arr(out.prevSample), await arr(at(f.samples, i + 1))), `step ${i}`).toBeLessThan(1e-5);
        if (f.pred_original) {
          expect(relErr(await arr(out.predOriginalSample), await arr(at(f.pred_original, i)))).toBeLessThan(1e-5);
        }
        x = out.prevSample;
      }
      expect(s.stepIndex).toBe(steps);
    });
  }

  it('betas, alphas_cumprod and add_noise (per-sample timesteps)', async () => {
    const f = await loadSafetensors(path.join(dir, 'ddpm_add_noise.safetensors'));
    const s = createScheduler(configOf('ddpm'));
    expect(s.betas).toEqual(await f.betas.toArray());
    expect(s.alphasCumprod).toEqual(await f.alphas_cumprod.toArray());
    const ref = await arr(f.noisy);
    expect(f.timesteps.dtype).toBe('int32');
    expect(relErr(await arr(s.addNoise(f.original, f.noise, f.timesteps)), ref)).toBeLessThan(1e-6);
    const ts = Array.from(await f.timesteps.toArray());
    expect(relErr(await arr(s.addNoise(f.original, f.noise, ts)), ref)).toBeLessThan(1e-6);
    // getVelocity against float64.
    const x0 = await arr(f.original), z = await arr(f.noise), acp = s.alphasCumprod;
    const row = x0.length / 4;
    const v = Array.from(x0, (_, i) => Math.sqrt(acp[ts[Math.floor(i / row)]]) * z[i] - Math.sqrt(1 - acp[ts[Math.floor(i / row)]]) * x0[i]);
    expect(relErr(await arr(s.getVelocity(f.original, f.noise, ts)), v)).toBeLessThan(1e-6);
  });
});

describe('scheduler noise, clones and configs', () => {
  const sd = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 };

  it('noise drawn inside a step is randn(seed, i·n): same seed, same bytes', async () => {
    const shape = [1, 4, 5, 5]; // odd element count: offsets round up to even
    const x = randn(shape, { seed: 1, std: 5 }), e = randn(shape, { seed: 2 });
    const run = async (seed: number | bigint, explicit: boolean) => {
      const s = createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler', ...sd }, { seed });
      s.setTimesteps(4);
      const outs: Float32Array[] = [];
      for (let i = 0; i < 3; i++) {
        const noise = explicit ? randn(shape, { seed: Number(seed), offset: i * 100 }) : undefined;
        outs.push(await arr(s.step(e, s.timesteps[i], x, { noise }).prevSample));
      }
      return outs;
    };
    const a = await run(7, false), b = await run(7n, false), c = await run(7, true), d = await run(8, false);
    for (let i = 0; i < 3; i++) {
      expect(Buffer.from(a[i].buffer)).toEqual(Buffer.from(b[i].buffer));
      expect(Buffer.from(a[i].buffer)).toEqual(Buffer.from(c[i].buffer));
      expect(Buffer.from(a[i].buffer).equals(Buffer.from(d[i].buffer))).toBe(false);
    }
    // A per-step seed wins over the scheduler's.
    const s = createScheduler({ _class_name: 'euler-ancestral', ...sd }, { seed: 1 });
    s.setTimesteps(4);
    expect(await arr(s.step(e, s.timesteps[0], x, { seed: 7 }).prevSample)).toEqual(a[0]);
    expect(s.seed).toBe(1n);
  });

  it('clones run concurrent loops independently (DPM-Solver++ history)', async () => {
    const base = createScheduler({ _class_name: 'dpmpp-2m', ...sd });
    base.setTimesteps(6);
    const shape = [1, 4, 4, 4];
    const eps = Array.from({ length: 6 }, (_, i) => randn(shape, { seed: 10 + i }));
    const x1 = randn(shape, { seed: 1 }), x2 = randn(shape, { seed: 2 });
    const lone = base.clone();
    let y = x1;
    for (let i = 0; i < 6; i++) y = lone.step(eps[i], lone.timesteps[i], y).prevSample;
    const ref = await arr(y);
    const a = base.clone(), b = base.clone();
    let ya = x1, yb = x2;
    for (let i = 0; i < 6; i++) {
      ya = a.step(eps[i], a.timesteps[i], ya).prevSample;
      yb = b.step(eps[5 - i], b.timesteps[i], yb).prevSample;
    }
    expect(await arr(ya)).toEqual(ref);
    expect(base.stepIndex).toBe(-1);
    a.reset();
    expect(a.stepIndex).toBe(-1);
  });

  it('reads configs from folders, files, JSON text and objects', () => {
    const cfg = '{"_class_name": "DPMSolverMultistepScheduler", "_diffusers_version": "0.30.3", "beta_schedule": "scaled_linear", ' +
      '"beta_start": 0.00085, "beta_end": 0.012, "lambda_min_clipped": -Infinity, "variance_type": null}';
    const root = path.join(tmp, 'pipe');
    fs.mkdirSync(path.join(root, 'scheduler'), { recursive: true });
    fs.writeFileSync(path.join(root, 'scheduler', 'scheduler_config.json'), cfg);
    const flat = path.join(tmp, 'flat');
    fs.mkdirSync(flat);
    fs.writeFileSync(path.join(flat, 'scheduler_config.json'), cfg);
    const all = [Scheduler.fromPretrained(root), Scheduler.fromPretrained(flat), createScheduler(root),
      createScheduler(path.join(root, 'scheduler', 'scheduler_config.json')), createScheduler(cfg)];
    for (const s of all) {
      expect(s.className).toBe('DPMSolverMultistepScheduler');
      expect(s.config.beta_schedule).toBe('scaled_linear');
      expect(s.config.lambda_min_clipped).toBe(null); // -inf
    }
    // The real instruct-pix2pix config (Euler ancestral, defaults for the rest).
    const ip2p = createScheduler({ _class_name: 'EulerAncestralDiscreteScheduler', _diffusers_version: '0.12.0.dev0',
      beta_end: 0.012, beta_schedule: 'scaled_linear', beta_start: 0.00085, num_train_timesteps: 1000,
      prediction_type: 'epsilon', steps_offset: 1, trained_betas: null });
    ip2p.setTimesteps(4);
    expect(Array.from(ip2p.timesteps)).toEqual([999, 666, 333, 0]);
    expect(ip2p.initNoiseSigma).toBeCloseTo(14.6146, 4);
    // Converting another class's config (SD1.5's PNDM) as diffusers' from_config does.
    const pndm = { _class_name: 'PNDMScheduler', skip_prk_steps: true, set_alpha_to_one: false, ...sd, steps_offset: 1 };
    expect(() => createScheduler(pndm)).toThrow(/unknown scheduler class "PNDMScheduler"/);
    const conv = createScheduler(pndm, { className: 'euler' });
    expect(conv.className).toBe('EulerDiscreteScheduler');
    expect(conv.config.steps_offset).toBe(1);
  });

  it('rejects bad configs and calls with clear errors', () => {
    const ddim = { _class_name: 'DDIMScheduler', ...sd };
    expect(() => createScheduler({ ...ddim, thresholding: true })).toThrow(/"thresholding" = true is not supported/);
    expect(() => createScheduler({ ...ddim, trained_betas: [0.1] })).toThrow(/trained_betas.*not supported/);
    expect(() => createScheduler({ ...ddim, beta_shedule: 'linear' })).toThrow(/no config key "beta_shedule"/);
    // keys of other scheduler classes are ignored, as diffusers does: the real instruct-pix2pix
    // scheduler_config.json (Euler ancestral) carries PNDM/DDIM keys
    const ip2p = { _class_name: 'EulerAncestralDiscreteScheduler', _diffusers_version: '0.15.0', beta_end: 0.012,
      beta_schedule: 'scaled_linear', beta_start: 0.00085, clip_sample: false, num_train_timesteps: 1000,
      prediction_type: 'epsilon', set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1, trained_betas: null };
    const ea = createScheduler(ip2p);
    ea.setTimesteps(4);
    expect(Array.from(ea.timesteps)).toEqual([999, 666, 333, 0]);
    // and carried over when the Editor switches the sampler (clip_sample stays false)
    expect(createScheduler(ip2p, { className: 'ddim' }).config.clip_sample).toBe(false);
    expect(() => createScheduler({ ...ddim, timestep_spacing: 'random' })).toThrow(/timestep_spacing.*"random"/);
    expect(() => createScheduler({ _class_name: 'Nope' })).toThrow(/unknown scheduler class "Nope"/);
    expect(() => createScheduler({ beta_start: 0.1 })).toThrow(/_class_name/);
    expect(() => createScheduler(path.join(tmp, 'missing'))).toThrow(/does not exist/);
    expect(() => createScheduler(tmp)).toThrow(/no scheduler\/scheduler_config.json/);
    expect(() => createScheduler(ddim, { seed: -1 })).toThrow(/seed/);
    expect(() => createScheduler(ddim, { sed: 1 } as never)).toThrow(/unknown option 'sed'/);
    expect(() => createScheduler(42 as never)).toThrow(/config must be/);

    const s = createScheduler(ddim);
    const x = randn([1, 4, 4, 4], { seed: 1 });
    expect(() => s.step(x, 1, x)).toThrow(/call setTimesteps\(numInferenceSteps\) first/);
    expect(() => s.scaleModelInput(x, 1)).toThrow(/setTimesteps/);
    expect(() => s.setTimesteps(0)).toThrow(/numInferenceSteps/);
    expect(() => s.setTimesteps(1001)).toThrow(/numInferenceSteps must be in \[1, 1000\]/);
    expect(() => s.setTimesteps(2.5)).toThrow(/integer/);
    s.setTimesteps(10);
    expect(() => s.step(x, 7, x)).toThrow(/timestep 7 is not in the schedule/);
    expect(() => s.step(x, NaN, x)).toThrow(/finite/);
    expect(() => s.step(randn([1, 4, 4, 2]), s.timesteps[0], x)).toThrow(/modelOutput must have the shape of sample \[1, 4, 4, 4\]/);
    expect(() => s.step(x, s.timesteps[0], x, { noise: randn([2]), eta: 1 })).toThrow(/noise must have the shape/);
    expect(() => s.step(tensor(new Int32Array(64), [1, 4, 4, 4]), s.timesteps[0], x)).toThrow(/modelOutput must be float32/);
    expect(() => s.step(x, s.timesteps[0], 'x' as never)).toThrow(/sample must be a Tensor/);
    expect(() => s.step(x, s.timesteps[0], x, { eta: -1 })).toThrow(/eta must be >= 0/);
    expect(() => s.step(x, s.timesteps[0], x, { seed: 1.5 })).toThrow(/seed/);
    const gone = randn([1, 4, 4, 4]);
    gone.dispose();
    expect(() => s.step(gone, s.timesteps[0], x)).toThrow(/disposed/);
    expect(() => s.addNoise(x, x, [1000])).toThrow(/integer in \[0, 1000\)/);
    expect(() => s.addNoise(x, x, [1, 2])).toThrow(/2 timesteps for a batch of 1/);
    expect(() => s.addNoise(x, randn([1, 4, 4, 3]), [1])).toThrow(/noise must have the shape/);
    const e = createScheduler({ _class_name: 'euler', ...sd });
    e.setTimesteps(5);
    expect(() => e.step(x, e.timesteps[0], x, { eta: 0.5 })).toThrow(/eta applies to DDIMScheduler only/);
    expect(() => e.addNoise(x, x, [500])).toThrow(/timestep 500 is not in the schedule/);
    const lcm = createScheduler({ _class_name: 'lcm' });
    expect(() => lcm.setTimesteps(51)).toThrow(/original_inference_steps/);
    // The scheduler still works after the errors.
    const out = s.step(x, s.timesteps[0], x);
    expect(out.prevSample.shape).toEqual([1, 4, 4, 4]);
  });
});
