// Runs the native unit tests (ctest) from the build that `npm install` made; builds them with
// cmake-js first if that build has no test binary (e.g. the addon came from a prebuild).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const build = path.join(root, 'build');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

if (!existsSync(path.join(build, 'ie_native_tests'))) {
  console.log('native tests are not built yet: building them (cmake-js)…');
  run('npx', ['cmake-js', 'compile', '--parallel', '2', '--CDIE_BUILD_TESTS=ON']);
}
run('ctest', ['--test-dir', build, '--output-on-failure']);
