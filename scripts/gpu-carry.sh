#!/usr/bin/env bash
# Packs what scripts/test-gpu.sh needs on the GPU machine beyond the working tree into .gpu/ (git-
# ignored; the device tool sends it when the run call names it in `carry`):
#
#   .gpu/shared/                 a copy of ../shared (the parity fixtures, ~11 MB): IE_SHARED_DIR there
#   .gpu/node.xz                 this machine's node binary, xz-compressed (~24 MB): no node there
#   .gpu/node_modules.tar.xz     node_modules for vitest and the addon build (node-api-headers,
#                                node-addon-api, node-gyp-build, sharp for tests/gpu.test.ts's images),
#                                without typescript, @types
#
#   bash scripts/gpu-carry.sh [--no-node]      (then: the run call with carry [".gpu"], see docs/gpu.md)
#
# The device tool takes at most 64 MiB of working tree + carried paths in all: this script prints the
# total and fails above IE_GPU_CARRY_MAX_MB (default 45). Both machines are x86-64 Linux; the GPU
# machine's glibc (Ubuntu 24.04) is newer than the one node was built for here, so the binary runs.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MAX_MB=${IE_GPU_CARRY_MAX_MB:-50}
WITH_NODE=1
[ "${1:-}" = --no-node ] && WITH_NODE=0

grep -qx '/.gpu/' .gitignore || { echo "add /.gpu/ to .gitignore first" >&2; exit 1; }
rm -rf .gpu
mkdir -p .gpu

SHARED=${IE_SHARED_DIR:-$ROOT/../shared}
if [ -d "$SHARED/parity" ]; then
  cp -r "$SHARED" .gpu/shared
  rm -rf .gpu/shared/hooks
else
  echo "warning: no parity fixtures at $SHARED (the model suites will skip or fail there)" >&2
fi

if [ $WITH_NODE = 1 ]; then
  NODE=$(command -v node) || { echo "no node on PATH (use --no-node)" >&2; exit 1; }
  xz -T2 -6 -c "$(readlink -f "$NODE")" >.gpu/node.xz
  NM=$(readlink -f node_modules)
  [ -d "$NM/vitest" ] || { echo "node_modules has no vitest: npm install first" >&2; exit 1; }
  tar -C "$(dirname "$NM")" -cf - \
    --exclude='node_modules/typescript' \
    --exclude='node_modules/@types' --exclude='node_modules/prebuildify' --exclude='node_modules/.cache' \
    --exclude='node_modules/.vite' --exclude='node_modules/.vitest' \
    "$(basename "$NM")" | xz -T2 -6 >.gpu/node_modules.tar.xz
fi

du -sh .gpu/* | sed 's/^/  /'
total_kb=$(du -sk .gpu | cut -f1)
tree_kb=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
echo ".gpu: $((total_kb / 1024)) MiB; with the tracked tree (~$((tree_kb / 1024)) MiB): $(((total_kb + tree_kb) / 1024)) MiB of the 64 MiB a call may send"
if [ $((total_kb / 1024)) -gt "$MAX_MB" ]; then
  echo ".gpu is over ${MAX_MB} MiB" >&2
  exit 1
fi
