#!/usr/bin/env node
// prebuildify drives node-gyp; this shim stands in for it (`prebuildify --node-gyp <this>`) and
// builds with cmake-js instead: `rebuild --target=V --arch=A --release|--debug` becomes
// `cmake-js rebuild` for the same Node-API addon into build/Release, where prebuildify picks it up.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`cmake-js-gyp-shim: only 'rebuild' is supported, got: ${args.join(' ')}`);
  process.exit(2);
}
const out = ['rebuild', '--parallel', '2', '--CDIE_BUILD_TESTS=OFF'];
for (const a of args.slice(1)) {
  if (a === '--debug') out.push('--debug');
  else if (a.startsWith('--arch=')) out.push('--arch', a.slice(7));
  // --target/--devdir only choose Node headers; a Node-API addon uses node-api-headers instead.
}
const cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, ...out], { stdio: 'inherit' });
process.exit(r.status ?? 1);
