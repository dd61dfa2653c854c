// Full-model benchmark: the SD1.5-sized InstructPix2Pix UNet (random weights, real config, fp32)
// against two peers measured in the same run: PyTorch CPU (Debian's python3-torch, running the
// plain-torch model in bench/peers/unet_torch.py) and onnxruntime-node (the same model exported to
// ONNX). Rows: forward at latent 32×32 batch 3, forward at 64×64 batch 1, forward+backward at
// 32×32 batch 2 (onnxruntime-node has no backward: "n/a").
//
//   npm run bench -- unet [--threads N] [--iters N] [--rows fwd-b3-32,fwd-b1-64,fwdbwd-b2-32]
//                         [--skip-peers | --peers torch,ort] [--skip-ours] [--model DIR]
//
// Every measurement runs in its own subprocess, one at a time (never two concurrently), so each
// gets the machine's cores and its own RSS high-water mark. Timing: one warm-up call, then --iters
// timed calls (default 3); the tables report the MEDIAN (the JSON also keeps every time and the
// best). GFLOP/s uses an analytic count of convolution, linear and attention-matmul FLOPs
// (bench/unet/flops.mjs; forward+backward = 3× forward), compared with the FP32 FMA peak that
// the addon measures at the start of the run. "other load" is the CPU time the rest of the machine
// used while a measurement ran (from /proc/stat), in cores: above ~0.1 the machine was busy.
//
// First run sets up bench/.cache/ (git-ignored; ~7 GB on disk, ~7 GB RAM peak during the export):
//   unet_sd15_random/           config.json + diffusion_pytorch_model.safetensors (F32, 3.44 GB)
//   unet_sd15_random_onnx/      unet.onnx + unet.onnx.data (3.44 GB) + verify.safetensors
//   ort/node_modules/onnxruntime-node   `npm install --no-save --ignore-scripts` (its install script
//                                       downloads CUDA files; the CPU binary ships in the package)
// Writes bench/results/unet-<timestamp>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { unetForwardFlops } from './unet/flops.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const require = createRequire(import.meta.url);
const ORT_VERSION = process.env.INSTRUCTEDIT_ORT_VERSION ?? '1.30.0';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const threads = Number(opt('threads', 2));
const iters = Number(opt('iters', 3));
const cache = path.join(here, '.cache');
const modelDir = path.resolve(opt('model', path.join(cache, 'unet_sd15_random')));
const onnxDir = path.join(cache, 'unet_sd15_random_onnx');
const ortDir = path.join(cache, 'ort');
const ortPkg = path.join(ortDir, 'node_modules', 'onnxruntime-node');

const ROWS = {
  'fwd-b3-32': { kind: 'fwd', batch: 3, size: 32, label: 'fwd b3 32×32' },
  'fwd-b1-64': { kind: 'fwd', batch: 1, size: 64, label: 'fwd b1 64×64' },
  'fwdbwd-b2-32': { kind: 'fwdbwd', batch: 2, size: 32, label: 'fwd+bwd b2 32×32' },
};
const rowIds = opt('rows', Object.keys(ROWS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
for (const r of rowIds) {
  if (!ROWS[r]) {
    console.error(`unknown row ${r}; rows: ${Object.keys(ROWS).join(', ')}`);
    process.exit(2);
  }
}
let peers = args.includes('--skip-peers') ? [] : opt('peers', 'torch,ort').split(',').map((s) => s.trim()).filter(Boolean);
for (const p of peers) {
  if (p !== 'torch' && p !== 'ort') {
    console.error(`unknown peer ${p}; peers: torch, ort`);
    process.exit(2);
  }
}
const runOurs = !args.includes('--skip-ours');
const log = (s) => process.stderr.write(`${s}\n`);

// --- environment ----------------------------------------------------------------------------------
const threadEnv = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };

function findPython(modules) {
  for (const py of [process.env.INSTRUCTEDIT_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', `import ${modules}`], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

function run(cmd, argv, what) {
  log(`  ${what}: ${[cmd, ...argv].map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`);
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], env: threadEnv });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status})`);
}

let ie = null, native = null, oursBuilt = false;
try {
  ie = require(path.join(root, 'dist', 'index.js'));
  native = require(path.join(root, 'dist', 'native.js')).native;
  oursBuilt = typeof ie.UNet2DConditionModel?.fromPretrained === 'function';
} catch (e) {
  log(`instructedit (dist/) does not load: ${e.message.split('\n')[0]}`);
}
if (!oursBuilt) log('ours: not built yet (dist/ does not export UNet2DConditionModel); running the peers only');

const py = findPython('torch, numpy');
const weights = path.join(modelDir, 'diffusion_pytorch_model.safetensors');
if (!existsSync(weights)) {
  if (!py) {
    console.error(`${weights} is missing and generating it needs PyTorch (apt-get install python3-torch python3-numpy)`);
    process.exit(2);
  }
  log('setup: writing the random-weight SD1.5-size UNet (once, ~20 s, 3.4 GB)');
  run(py, [path.join(here, 'peers', 'make_unet_weights.py'), '--out', modelDir], 'generate weights');
}
const config = JSON.parse(readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
// A small case (batch 2, 16×16) with PyTorch's output: the ONNX export and instructedit are checked
// against it before they are timed, so every column runs the same function on the same weights.
const verifyFile = path.join(modelDir, 'verify_b2_16x16.safetensors');
if (!existsSync(verifyFile) && py) run(py, [path.join(here, 'peers', 'torch_unet.py'), '--make-verify', JSON.stringify({ model: modelDir })], 'verification case');
const checks = {};
function verifyAgainstTorch(who, script, job) {
  if (!existsSync(verifyFile)) return null;
  const v = spawnSync(process.execPath, [script, '--verify', JSON.stringify({ ...job, verify: verifyFile, threads })], { encoding: 'utf8', env: threadEnv });
  let r = {};
  try {
    r = JSON.parse(v.stdout.trim().split('\n').pop());
  } catch {
    r = { ok: false, error: (v.stderr ?? '').split('\n').slice(-8).join('\n') };
  }
  checks[who] = r;
  return r;
}

if (peers.includes('torch') && !py) {
  log('PyTorch not found (apt-get install python3-torch python3-numpy libopenblas0-pthread): torch column left empty');
  peers = peers.filter((p) => p !== 'torch');
}
if (peers.includes('ort')) {
  try {
    const onnx = path.join(onnxDir, 'unet.onnx');
    if (!existsSync(onnx) || !existsSync(`${onnx}.data`)) {
      const pyOnnx = findPython('torch, numpy, onnx');
      if (!pyOnnx) throw new Error('exporting to ONNX needs python3-torch and python3-onnx');
      log('setup: exporting the UNet to ONNX (once, ~1 min, ~7 GB RAM)');
      run(pyOnnx, [path.join(here, 'peers', 'export_unet_onnx.py'), '--model', modelDir, '--out', onnxDir, '--force'], 'ONNX export');
    }
    if (!existsSync(path.join(ortPkg, 'package.json'))) {
      log(`setup: installing onnxruntime-node@${ORT_VERSION} into ${path.relative(root, ortDir)} (not a dependency of the package)`);
      mkdirSync(ortDir, { recursive: true });
      writeFileSync(path.join(ortDir, 'package.json'), JSON.stringify({ name: 'instructedit-bench-ort', private: true }) + '\n');
      // --ignore-scripts: the postinstall downloads CUDA libraries (fails offline); the CPU binary
      // is part of the npm package itself.
      run('npm', ['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', ortDir, `onnxruntime-node@${ORT_VERSION}`], 'npm install');
    }
    const vr = verifyAgainstTorch('ort', path.join(here, 'peers', 'ort_unet.mjs'), { onnx, ort: ortPkg });
    if (vr && !vr.ok) throw new Error(`the ONNX model does not match PyTorch (rel-L2 ${vr.relL2} ${vr.error ?? ''}); delete ${path.relative(root, onnxDir)} to re-export`);
    if (vr) log(`onnxruntime-node check: output vs PyTorch rel-L2 ${vr.relL2.toExponential(2)} (batch 2, 16×16)`);
  } catch (e) {
    log(`onnxruntime-node peer unavailable: ${e.message}`);
    peers = peers.filter((p) => p !== 'ort');
  }
}

// --- measurements ---------------------------------------------------------------------------------
function cpuBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user + nice + system + irq + softirq + (steal ?? 0)) / 100; // USER_HZ = 100
  } catch {
    return null;
  }
}

function measure(who, row) {
  const job = { model: modelDir, onnx: path.join(onnxDir, 'unet.onnx'), ort: ortPkg, threads, kind: row.kind, batch: row.batch, size: row.size, iters };
  const cmd = who === 'torch' ? [py, path.join(here, 'peers', 'torch_unet.py'), JSON.stringify(job)]
    : who === 'ort' ? [process.execPath, path.join(here, 'peers', 'ort_unet.mjs'), JSON.stringify(job)]
      : [process.execPath, path.join(here, 'unet', 'ours.mjs'), JSON.stringify(job)];
  const b0 = cpuBusySeconds(), w0 = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', env: threadEnv, maxBuffer: 1 << 24 });
  const wall = (performance.now() - w0) / 1e3, b1 = cpuBusySeconds();
  const last = r.stdout?.trim().split('\n').pop();
  let res = null;
  try {
    res = JSON.parse(last);
  } catch {
    /* reported below */
  }
  if (r.status !== 0 || !res) {
    if (res?.notBuilt) return { notBuilt: true };
    log(`  ${who} ${row.label} failed (exit ${r.status ?? r.signal}):\n${(r.stderr ?? '').split('\n').slice(-15).join('\n')}`);
    return { error: `exit ${r.status ?? r.signal}` };
  }
  if (b0 !== null && b1 !== null && res.cpu_s !== undefined) res.other_load = Math.max(0, (b1 - b0 - res.cpu_s) / wall);
  res.wall_s = wall;
  return res;
}

if (runOurs && oursBuilt) {
  const vr = verifyAgainstTorch('ours', path.join(here, 'unet', 'ours.mjs'), { model: modelDir });
  if (vr?.ok) log(`instructedit check: output vs PyTorch rel-L2 ${vr.relL2.toExponential(2)} (batch 2, 16×16)`);
  else if (vr) log(`WARNING: instructedit's output does not match PyTorch on the same weights (rel-L2 ${vr.relL2 ?? '?'}) ${vr.error ?? ''}; timing it anyway`);
}

const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
log(`instructedit UNet benchmark: ${cpuModel}, ${threads} threads, ${iters} timed iterations (median) after 1 warm-up`);
let peak = null;
if (native?.fmaPeakGflops) {
  peak = native.fmaPeakGflops(threads, 1.0);
  log(`measured FP32 FMA peak: ${peak.toFixed(1)} GFLOP/s (${threads} threads)`);
}

const results = {};
for (const id of rowIds) {
  const row = ROWS[id];
  const fwd = unetForwardFlops(config, { batch: row.batch, height: row.size, width: row.size });
  results[id] = { ...row, gflop: (row.kind === 'fwd' ? 1 : 3) * fwd.total / 1e9, forwardFlops: fwd };
  const who = [...(runOurs && oursBuilt ? ['ours'] : []), ...peers];
  for (const w of who) {
    if (w === 'ort' && row.kind !== 'fwd') {
      results[id].ort = { na: true };
      continue;
    }
    log(`  ${row.label}: ${w} ...`);
    const r = measure(w, row);
    if (w === 'ours' && r.notBuilt) {
      oursBuilt = false;
      log('ours: not built yet');
      continue;
    }
    results[id][w] = r;
    if (r.median !== undefined) {
      const load = r.other_load !== undefined ? `, other load ${r.other_load.toFixed(2)} cores` : '';
      log(`    ${r.median.toFixed(2)} s median (${r.times.map((t) => t.toFixed(2)).join(', ')}), peak RSS ${(r.peak_rss_bytes / 2 ** 30).toFixed(2)} GiB${load}`);
    }
  }
}

// --- report ---------------------------------------------------------------------------------------
const names = { ours: 'instructedit', torch: 'torch', ort: 'ort-node' };
const cols = [...(oursBuilt && runOurs ? ['ours'] : []), ...['torch', 'ort'].filter((p) => peers.includes(p))];
const sec = (r) => (r?.na ? 'n/a' : r?.median !== undefined ? r.median.toFixed(2) : r?.error ? 'failed' : '-');
const rate = (r, gflop) => {
  if (r?.na) return 'n/a';
  if (r?.median === undefined) return '-';
  const g = gflop / r.median;
  return peak ? `${g.toFixed(1)} (${((100 * g) / peak).toFixed(0)}%)` : g.toFixed(1);
};
const mem = (r) => (r?.na ? 'n/a' : r?.peak_rss_bytes ? (r.peak_rss_bytes / 2 ** 30).toFixed(2) : '-');
const ratio = (p, o) => (p?.median !== undefined && o?.median !== undefined ? `${(p.median / o.median).toFixed(2)}×` : p?.na ? 'n/a' : '-');

function table(head, rows) {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (vals) => '| ' + vals.map((v, i) => String(v).padEnd(width[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + width.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

console.log(`\nUNet SD1.5 size (859.5M params, random weights), fp32, ${threads} threads, median of ${iters} after 1 warm-up; ${cpuModel}` +
  (peak ? `; FMA peak ${peak.toFixed(1)} GFLOP/s` : ''));
if (!oursBuilt && runOurs) console.log('ours: not built yet');
console.log('');
const peerCols = cols.filter((c) => c !== 'ours');
table(
  ['row', 'GFLOP', ...cols.map((c) => `${names[c]} s`), ...(cols.includes('ours') ? peerCols.map((c) => `${names[c]}/ours`) : [])],
  rowIds.map((id) => {
    const r = results[id];
    return [r.label, r.gflop.toFixed(0), ...cols.map((c) => sec(r[c])), ...(cols.includes('ours') ? peerCols.map((c) => ratio(r[c], r.ours)) : [])];
  }),
);
console.log('');
table(
  ['row', ...cols.map((c) => `${names[c]} GFLOP/s${peak ? ' (of peak)' : ''}`)],
  rowIds.map((id) => [results[id].label, ...cols.map((c) => rate(results[id][c], results[id].gflop))]),
);
console.log('');
table(
  ['row', ...cols.map((c) => `${names[c]} peak RSS GiB`), 'other load (cores)'],
  rowIds.map((id) => {
    const r = results[id];
    const loads = cols.map((c) => r[c]?.other_load).filter((x) => x !== undefined);
    return [r.label, ...cols.map((c) => mem(r[c])), loads.length ? Math.max(...loads).toFixed(2) : '-'];
  }),
);
const busiest = Math.max(0, ...rowIds.flatMap((id) => cols.map((c) => results[id][c]?.other_load ?? 0)));
if (busiest > 0.1) console.log(`\nnote: other processes used up to ${busiest.toFixed(2)} cores during a measurement; figures are pessimistic`);

const outDir = path.join(here, 'results');
mkdirSync(outDir, { recursive: true });
const file = path.join(outDir, `unet-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
const versions = {
  torch: rowIds.map((id) => results[id].torch?.version).find(Boolean) ?? null,
  onnxruntimeNode: rowIds.map((id) => results[id].ort?.version).find(Boolean) ?? null,
};
writeFileSync(
  file,
  JSON.stringify(
    { date: new Date().toISOString(), cpu: cpuModel, threads, iters, timing: 'median of iters after one warm-up', peakGflops: peak, oursBuilt, peers, versions, checks, model: modelDir, config, results },
    null,
    1,
  ),
);
console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
