// Writes dist/index.mjs: an ES-module entry that re-exports the CommonJS build, so ESM and CJS
// consumers share one module instance (one Tensor class, one addon). Export names are read from
// the compiled dist/index.js text (not by loading it: the build must not need the addon).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const js = readFileSync(path.join(dist, 'index.js'), 'utf8');
const names = new Set();
for (const m of js.matchAll(/Object\.defineProperty\(exports, "(\w+)"/g)) names.add(m[1]);
for (const m of js.matchAll(/^exports\.(\w+) = /gm)) names.add(m[1]);
names.delete('__esModule');
if (names.size === 0) throw new Error('write-esm-wrapper: found no exports in dist/index.js');
const lines = [
  "import { createRequire } from 'node:module';",
  "const cjs = createRequire(import.meta.url)('./index.js');",
  ...[...names].sort().map((n) => `export const ${n} = cjs.${n};`),
  'export default cjs;',
  '',
];
writeFileSync(path.join(dist, 'index.mjs'), lines.join('\n'));
console.log(`dist/index.mjs: ${names.size} exports`);
