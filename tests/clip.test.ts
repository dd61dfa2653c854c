// CLIPTokenizer and CLIPTextModel through the public API: tokenizer cases and ids from transformers
// (../shared/parity/clip_tokenizer_tiny), text-encoder parity (clip_text_tiny) from a pipeline-shaped
// folder, the tokenizer -> encoder chain, folder layouts, corrupt files, bad calls, the event loop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  backends,
  CLIPTextModel, CLIPTokenizer, CLIP_VIT_L14_TEXT_CONFIG, Tensor, loadSafetensors, saveSafetensors, tensor,
} from '../src';
import { relErr } from './reference';

const shared = process.env.IE_SHARED_DIR ?? path.join(__dirname, '..', '..', 'shared');
const tokDir = path.join(shared, 'parity', 'clip_tokenizer_tiny');
const textDir = path.join(shared, 'parity', 'clip_text_tiny');
const haveFixture = fs.existsSync(tokDir) && fs.existsSync(textDir);
const manifest = haveFixture
  ? JSON.parse(fs.readFileSync(path.join(shared, 'parity', 'manifest.json'), 'utf8').replace(/-Infinity/g, 'null'))
  : null;
const textFixture = manifest?.fixtures.clip_text_tiny;
const config: Record<string, unknown> = textFixture?.config;

interface Case { text: string; tokens: string[]; ids: number[]; ids_padded77: number[] }
const cases: Case[] = haveFixture ? JSON.parse(fs.readFileSync(path.join(tokDir, 'cases.json'), 'utf8')) : [];

let tmp: string;
let root: string; // a pipeline-shaped folder: model_index.json, tokenizer/, text_encoder/
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ie-clip-'));
  if (!haveFixture) return;
  root = path.join(tmp, 'pipeline');
  fs.mkdirSync(path.join(root, 'tokenizer'), { recursive: true });
  fs.mkdirSync(path.join(root, 'text_encoder'));
  fs.writeFileSync(path.join(root, 'model_index.json'), '{}');
  for (const f of ['vocab.json', 'merges.txt']) fs.symlinkSync(path.join(tokDir, f), path.join(root, 'tokenizer', f));
  fs.writeFileSync(path.join(root, 'tokenizer', 'tokenizer_config.json'), JSON.stringify({ model_max_length: 77, pad_token: '<|endoftext|>' }));
  fs.writeFileSync(path.join(root, 'text_encoder', 'config.json'), JSON.stringify(config));
  fs.symlinkSync(path.join(textDir, 'text_encoder.safetensors'), path.join(root, 'text_encoder', 'model.safetensors'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function arr(t: Tensor): Promise<Float32Array> {
  return (await t.toArray()) as Float32Array;
}

/** A folder with the given files (name -> contents, or a path to link to). */
function folder(name: string, files: Record<string, string | Buffer | { link: string }>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, c] of Object.entries(files)) {
    if (typeof c === 'string' || Buffer.isBuffer(c)) fs.writeFileSync(path.join(dir, f), c);
    else fs.symlinkSync(c.link, path.join(dir, f));
  }
  return dir;
}

describe.skipIf(!haveFixture)('CLIPTokenizer matches transformers (clip_tokenizer_tiny)', () => {
  it('every case: BPE tokens, ids, padded/truncated ids; ids.safetensors rows', async () => {
    const tok = await CLIPTokenizer.fromPretrained(tokDir);
    expect(cases).toHaveLength(14);
    expect([tok.bosTokenId, tok.eosTokenId, tok.padTokenId, tok.vocabSize]).toEqual([748, 749, 749, 750]);
    for (const c of cases) {
      expect(tok.tokenize(c.text), c.text).toEqual(c.tokens);
      expect(Array.from(tok.encode(c.text, { padding: 'none', truncation: false })), c.text).toEqual(c.ids);
      expect(Array.from(tok.encode(c.text)), c.text).toEqual(c.ids_padded77);
    }
    const { input_ids } = await loadSafetensors(path.join(tokDir, 'ids.safetensors')); // I64 -> int32
    expect(input_ids.shape).toEqual([14, 77]);
    const batch = tok.encodeBatch(cases.map((c) => c.text));
    expect(batch.shape).toEqual([14, 77]);
    expect(Array.from(batch.ids)).toEqual(Array.from((await input_ids.toArray()) as Int32Array));
  });

  it('truncation keeps bos and eos; padding modes; decode', async () => {
    const tok = await CLIPTokenizer.fromPretrained(root); // a pipeline root: its tokenizer/
    const long = cases.find((c) => c.ids.length > 77)!;
    expect(Array.from(tok.encode(long.text, { maxLength: 10 }))).toEqual([...long.ids.slice(0, 9), 749]);
    expect(tok.encode(long.text, { truncation: false }).length).toBe(long.ids.length);
    const b = tok.encodeBatch([cases[0].text, cases[2].text], { padding: 'longest' });
    expect([cases[0].ids.length, cases[2].ids.length]).toEqual([7, 21]);
    expect(b.shape).toEqual([2, 21]);
    expect(Array.from(b.ids)).toEqual([...cases[0].ids, ...new Array(14).fill(749), ...cases[2].ids]);
    expect(() => tok.encodeBatch(['a', 'a cat'], { padding: 'none' })).toThrow(/different lengths \(3, 4\)/);
    expect(tok.decode(tok.encode('A photo of a CAT'))).toBe('a photo of a cat');
    expect(tok.decode(tok.encode('emoji 🙂👍 test'))).toBe('emoji 🙂👍 test');
    expect(tok.decode([748, 320], { skipSpecialTokens: false })).toBe('<|startoftext|>a');
    expect(() => tok.decode([750])).toThrow(/id 750 at position 0 is not in the vocabulary/);
    expect(() => tok.encode('x', { padding: 'max' as never })).toThrow(/padding must be/);
    expect(() => tok.encode('x', { maxLength: 1 })).toThrow(/maxLength must be an integer >= 2/);
    expect(() => tok.tokenize(3 as never)).toThrow(/text must be a string/);
  });

  it('tokenizer_config.json / special_tokens_map.json: length and pad token', async () => {
    const dir = folder('tok-config', {
      'vocab.json': { link: path.join(tokDir, 'vocab.json') },
      'merges.txt': { link: path.join(tokDir, 'merges.txt') },
      'tokenizer_config.json': JSON.stringify({ model_max_length: 12, pad_token: '<|endoftext|>' }),
      // special_tokens_map.json wins over tokenizer_config.json, as in transformers.
      'special_tokens_map.json': JSON.stringify({ pad_token: { content: '!', lstrip: false } }),
    });
    const tok = await CLIPTokenizer.fromPretrained(dir);
    expect(tok.modelMaxLength).toBe(12);
    expect(tok.padToken).toBe('!');
    expect(Array.from(tok.encode('a cat'))).toEqual([748, 320, 558, 749, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('missing and corrupt files reject with a clear error', async () => {
    const vocab = { link: path.join(tokDir, 'vocab.json') };
    const merges = { link: path.join(tokDir, 'merges.txt') };
    await expect(CLIPTokenizer.fromPretrained(path.join(tmp, 'nope'))).rejects.toThrow(/nope is not a folder/);
    await expect(CLIPTokenizer.fromPretrained(folder('tok-nomerges', { 'vocab.json': vocab }))).rejects.toThrow(/no merges\.txt in/);
    await expect(CLIPTokenizer.fromPretrained(folder('tok-fast', { 'tokenizer.json': '{}' }))).rejects.toThrow(/no vocab\.json.*only tokenizer\.json/);
    await expect(CLIPTokenizer.fromPretrained(folder('tok-badjson', { 'vocab.json': '{"a": 1,', 'merges.txt': merges })))
      .rejects.toThrow(/vocab\.json is not valid JSON/);
    await expect(CLIPTokenizer.fromPretrained(folder('tok-badid', { 'vocab.json': '{"a": "x"}', 'merges.txt': merges })))
      .rejects.toThrow(/vocab entry "a": "x" must map a token to an id/);
    await expect(CLIPTokenizer.fromPretrained(folder('tok-nospecial', { 'vocab.json': '{"a</w>": 0}', 'merges.txt': merges })))
      .rejects.toThrow(/'<\|startoftext\|>' is not in the vocabulary/);
    await expect(CLIPTokenizer.fromPretrained(folder('tok-badmerge', { 'vocab.json': vocab, 'merges.txt': '#version: 0.2\nh e</w>\nt he</w> x\n' })))
      .rejects.toThrow(/merges line 3 must hold two symbols/);
    expect(() => new CLIPTokenizer({ vocab: {}, merges: '' })).toThrow(/vocab must be a non-empty object/);
  });
});

describe.skipIf(!haveFixture)('CLIPTextModel parity with transformers (clip_text_tiny)', () => {
  it('tokenizer -> text encoder from a pipeline folder: ids and every output match', async () => {
    const tok = await CLIPTokenizer.fromPretrained(root);
    const te = await CLIPTextModel.fromPretrained(root);
    expect(te.numParameters).toBe(750 * 32 + 77 * 32 + 2 * (4 * (32 * 32 + 32) + 4 * 32 + 64 * 32 + 64 + 32 * 64 + 32) + 2 * 32);
    expect(te.config.hidden_size).toBe(32);
    const inputs = await loadSafetensors(path.join(textDir, 'inputs.safetensors'));
    const outputs = await loadSafetensors(path.join(textDir, 'outputs.safetensors'));
    const ids = tok.encodeBatch(textFixture.texts);
    expect(ids.shape).toEqual([3, 77]);
    expect(Array.from(ids.ids)).toEqual(Array.from((await inputs.input_ids.toArray()) as Int32Array));

    const out = await te.forward(ids, { outputHiddenStates: true });
    expect(out.lastHiddenState.shape).toEqual([3, 77, 32]);
    expect(out.pooledOutput.shape).toEqual([3, 32]);
    expect(out.hiddenStates).toHaveLength(3);
    const errs: Record<string, number> = {
      last_hidden_state: relErr(await arr(out.lastHiddenState), await arr(outputs.last_hidden_state)),
      pooler_output: relErr(await arr(out.pooledOutput), await arr(outputs.pooler_output)),
    };
    for (let i = 0; i < 3; ++i) errs[`hidden_states.${i}`] = relErr(await arr(out.hiddenStates![i]), await arr(outputs[`hidden_states.${i}`]));
    console.log('CLIPTextModel parity (rel L2):', errs);
    for (const [k, e] of Object.entries(errs)) expect(e, k).toBeLessThan(1e-4);

    // The other accepted id forms give the same states.
    const ref = await arr(out.lastHiddenState);
    const rows = [0, 1, 2].map((b) => Array.from(ids.ids.subarray(b * 77, (b + 1) * 77)));
    expect(await arr((await te.forward(inputs.input_ids)).lastHiddenState)).toEqual(ref);
    expect(await arr((await te.forward(rows)).lastHiddenState)).toEqual(ref);
    const one = await te.forward(tok.encode(textFixture.texts[2]));
    expect(await arr(one.lastHiddenState)).toEqual(ref.subarray(2 * 77 * 32));
    expect(out.hiddenStates).toBeDefined();
    expect((await te.forward(ids)).hiddenStates).toBeUndefined();
    te.dispose();
  });

  it('reads transformers folders: text_encoder/, fp16 variant, sharded index, position_ids, a weights file', async () => {
    const weights = await loadSafetensors(path.join(textDir, 'text_encoder.safetensors'));
    const outputs = await loadSafetensors(path.join(textDir, 'outputs.safetensors'));
    const inputs = await loadSafetensors(path.join(textDir, 'inputs.safetensors'));
    const ref = await arr(outputs.last_hidden_state);
    const names = Object.keys(weights).sort();
    const dir = path.join(tmp, 'te');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    // Older checkpoints also store position_ids (int64 arange in the real ones): ignored.
    await saveSafetensors(path.join(dir, 'model.safetensors'), {
      ...weights, 'text_model.embeddings.position_ids': tensor(Int32Array.from({ length: 77 }, (_, i) => i), [1, 77], { dtype: 'int32' }),
    });
    const half: Record<string, Tensor> = {};
    for (const n of names) half[n] = weights[n].to('float16');
    await saveSafetensors(path.join(dir, 'model.fp16.safetensors'), half);
    const shardDir = path.join(tmp, 'te-sharded');
    fs.mkdirSync(shardDir);
    const a = names.slice(0, 10), b = names.slice(10);
    await saveSafetensors(path.join(shardDir, 'model-00001-of-00002.safetensors'), Object.fromEntries(a.map((n) => [n, weights[n]])));
    await saveSafetensors(path.join(shardDir, 'model-00002-of-00002.safetensors'), Object.fromEntries(b.map((n) => [n, weights[n]])));
    const weight_map = Object.fromEntries([...a.map((n) => [n, 'model-00001-of-00002.safetensors']), ...b.map((n) => [n, 'model-00002-of-00002.safetensors'])]);
    fs.writeFileSync(path.join(shardDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map }));
    fs.writeFileSync(path.join(shardDir, 'config.json'), JSON.stringify(config));

    const run = async (m: CLIPTextModel) => {
      const out = await arr((await m.forward(inputs.input_ids)).lastHiddenState);
      m.dispose();
      return relErr(out, ref);
    };
    expect(await run(await CLIPTextModel.fromPretrained(dir))).toBeLessThan(1e-4);
    expect(await run(await CLIPTextModel.fromPretrained(shardDir))).toBeLessThan(1e-4);
    expect(await run(await CLIPTextModel.fromPretrained(path.join(textDir, 'text_encoder.safetensors'), { config }))).toBeLessThan(1e-4);
    // float16 rounding of every weight.
    expect(await run(await CLIPTextModel.fromPretrained(dir, { variant: 'fp16' }))).toBeLessThan(2e-2);
    await expect(CLIPTextModel.fromPretrained(dir, { variant: 'bf16' })).rejects.toThrow(/no model\.bf16\.safetensors/);
  });

  it('missing, corrupt and mismatched files reject with a clear error', async () => {
    const good = fs.readFileSync(path.join(textDir, 'text_encoder.safetensors'));
    const cfg = JSON.stringify(config);
    const load = (dir: string) => CLIPTextModel.fromPretrained(dir);
    await expect(load(path.join(tmp, 'none'))).rejects.toThrow(/none does not exist/);
    await expect(load(folder('te-empty', { 'config.json': cfg }))).rejects.toThrow(/no model\.safetensors or model\.safetensors\.index\.json in/);
    await expect(load(folder('te-bin', { 'config.json': cfg, 'pytorch_model.bin': 'PK' })))
      .rejects.toThrow(/found a PyTorch \.bin checkpoint: convert it to safetensors/);
    await expect(load(folder('te-noconfig', { 'model.safetensors': { link: path.join(textDir, 'text_encoder.safetensors') } })))
      .rejects.toThrow(/no config\.json next to .*model\.safetensors; pass options\.config/);
    await expect(load(folder('te-truncated', { 'config.json': cfg, 'model.safetensors': good.subarray(0, good.length - 1000) })))
      .rejects.toThrow(/truncated|too short|beyond|end of/i);
    await expect(load(folder('te-typo', { 'config.json': JSON.stringify({ ...config, num_hiden_layers: 2 }), 'model.safetensors': { link: path.join(textDir, 'text_encoder.safetensors') } })))
      .rejects.toThrow(/config\.json: unknown config key "num_hiden_layers"/);
    await expect(load(folder('te-act', { 'config.json': JSON.stringify({ ...config, hidden_act: 'relu' }), 'model.safetensors': { link: path.join(textDir, 'text_encoder.safetensors') } })))
      .rejects.toThrow(/"hidden_act" = "relu" is not supported/);
    // A config that does not match the weights: every mismatched tensor is named.
    await expect(load(folder('te-mismatch', { 'config.json': JSON.stringify({ ...config, num_hidden_layers: 3 }), 'model.safetensors': { link: path.join(textDir, 'text_encoder.safetensors') } })))
      .rejects.toThrow(/do not match the config:\n\s+missing \(16\): text_model\.encoder\.layers\.2\./);
    await expect(CLIPTextModel.fromPretrained(root, { dtype: 'float16' as never })).rejects.toThrow(/dtype 'float16' is not supported yet/);
    await expect(CLIPTextModel.fromPretrained(root, { device: 'tpu' as never })).rejects.toThrow(/unknown device 'tpu'/);
    if (!backends().cuda) await expect(CLIPTextModel.fromPretrained(root, { device: 'cuda' })).rejects.toThrow(/cuda:0' is not available/);
    await expect(CLIPTextModel.fromPretrained(root, { revision: 'main' } as never)).rejects.toThrow(/unknown option 'revision'/);
  });

  it('bad ids and calls reject before any work is queued', async () => {
    const te = await CLIPTextModel.fromPretrained(root);
    const ids = new Int32Array(77).fill(749);
    ids[0] = 748;
    ids[5] = 750;
    await expect(te.forward(ids)).rejects.toThrow(/token id 750 at \[0, 5\] is outside the vocabulary \[0, 750\)/);
    ids[5] = -3;
    await expect(te.forward(ids)).rejects.toThrow(/token id -3 at \[0, 5\]/);
    await expect(te.forward(new Int32Array(78))).rejects.toThrow(/78 tokens are longer than the model's 77 positions/);
    await expect(te.forward(new Int32Array(0))).rejects.toThrow(/batch and length >= 1/);
    await expect(te.forward(tensor([1, 2, 3], [1, 3]))).rejects.toThrow(/ids tensor must be int32 \[batch, length\], got float32/);
    await expect(te.forward([[1, 2], [3]])).rejects.toThrow(/equally long rows/);
    await expect(te.forward([[1, 2.5]])).rejects.toThrow(/ids\[0\]\[1\] = 2.5 is not an integer/);
    await expect(te.forward({ ids: new Int32Array(6), shape: [2, 4] })).rejects.toThrow(/does not match ids\.ids \(6 values\)/);
    await expect(te.forward('a cat' as never)).rejects.toThrow(/ids must be an int32 Tensor/);
    await expect(te.forward(new Int32Array(3), { outputHiddenStates: 1 as never })).rejects.toThrow(/outputHiddenStates must be a boolean/);
    // The model still works, and nothing failed on the stream.
    expect((await te.forward(new Int32Array([748, 749]))).lastHiddenState.shape).toEqual([1, 2, 32]);
    te.dispose();
    await expect(te.forward(new Int32Array([748, 749]))).rejects.toThrow(/disposed/);
    expect(() => te.numParameters).toThrow(/disposed/);
  });
});

describe('CLIPTextModel from a config', () => {
  it('ViT-L/14 layout; the forward keeps the event loop running and honours an AbortSignal', async () => {
    // The real SD text encoder's size without its 38M-parameter token table (a small vocab keeps the test fast).
    const te = await CLIPTextModel.fromConfig({ ...CLIP_VIT_L14_TEXT_CONFIG, vocab_size: 1000 }, { seed: 4 });
    expect(te.numParameters).toBe(123060480 - (49408 - 1000) * 768);
    const ids = Array.from({ length: 4 }, (_, b) => Array.from({ length: 77 }, (_, i) => (i * 7 + b) % 1000));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const out = await te.forward(ids, { outputHiddenStates: true });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(out.lastHiddenState.shape).toEqual([4, 77, 768]);
    expect(out.hiddenStates).toHaveLength(13);
    const y = await arr(out.lastHiddenState);
    expect(y.every(Number.isFinite)).toBe(true);

    const pre = new AbortController();
    pre.abort();
    await expect(te.forward(ids, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const ac = new AbortController();
    const p = te.forward(ids, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    // Same seed, same model.
    const te2 = await CLIPTextModel.fromConfig({ ...CLIP_VIT_L14_TEXT_CONFIG, vocab_size: 1000 }, { seed: 4 });
    expect(await arr((await te2.forward(ids)).lastHiddenState)).toEqual(y);
    te.dispose();
    te2.dispose();
    await expect(CLIPTextModel.fromConfig({ hidden_size: 10, num_attention_heads: 3 })).rejects.toThrow(/hidden_size \(10\) must be divisible by num_attention_heads \(3\)/);
    await expect(CLIPTextModel.fromConfig(CLIP_VIT_L14_TEXT_CONFIG, { seed: -1 })).rejects.toThrow(/seed must be an integer >= 0/);
  });
});
