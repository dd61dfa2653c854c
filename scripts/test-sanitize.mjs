// Builds the native library and its tests with AddressSanitizer + UndefinedBehaviorSanitizer in
// build-sanitize/ (plain cmake, no addon, no CUDA) and runs them; any report fails the run.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, 'build-sanitize');
const env = {
  ...process.env,
  ASAN_OPTIONS: 'abort_on_error=0:halt_on_error=1:detect_leaks=1:strict_string_checks=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
};
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env });
run('cmake', ['-S', root, '-B', dir, '-DIE_BUILD_ADDON=OFF', '-DIE_CUDA=OFF', '-DIE_SANITIZE=ON', '-DCMAKE_BUILD_TYPE=RelWithDebInfo']);
run('cmake', ['--build', dir, '--parallel', '2']);
run('ctest', ['--test-dir', dir, '--output-on-failure']);
