#!/usr/bin/env bash
# Builds, tests and benchmarks the CUDA backend in one run (the GPU machine's 10-minute command):
#
#   bash scripts/test-gpu.sh [all|test|bench]       (npm run test:gpu = test, npm run bench:gpu = bench)
#
#   1. configure + build with plain cmake (no cmake-js, no npm): the native tests, ie_bench_gpu, and the
#      N-API addon when a node is available (PATH, or the one scripts/gpu-carry.sh packs into .gpu/);
#   2. test: every cuda_* suite of ie_native_tests, then tests/ops.test.ts under vitest (its cuda
#      blocks run on the GPU), each continuing after failures;
#   3. bench: build/ie_bench_gpu and bench/gpu/torch_peer.py (PyTorch eager + torch.compile), same rows;
#   4. test: the CPU suites of ie_native_tests, with the time that is left (CI runs them anyway);
#   5. the summary table (bench/gpu/summary.py), always, last.
# Exit status: non-zero if the build or any test failed (benchmark errors do not fail the run).
#
# Logs go to $OUT (the device tool returns what is written there; at most 8 files) or, without
# $OUT, to build-gpu/out: env.txt, build.log, native-tests.log, vitest.log, bench-ours.jsonl,
# bench-torch.jsonl, bench.err, summary.txt.
#
# Environment: IE_GPU_BUILD_DIR (build-gpu), IE_CUDA_ARCHS (90), IE_GPU_BUDGET (seconds for the
# whole run, default 540: phases are cut short to finish inside it), IE_GPU_COMPILE=0 (skip the
# torch.compile rows), IE_GPU_JOBS (build parallelism, default nproc); for iterating on failures:
# IE_GPU_SUITES (native suites to run, e.g. "cuda_attention cuda_gemm"; no CPU suites then),
# IE_GPU_VITEST (vitest files, or "none"), IE_GPU_BENCH_ONLY (ie_bench_gpu's
# --only list, e.g. "unet,kernels").
set -u
set -o pipefail

MODE=${1:-all}
case "$MODE" in all|test|bench) ;; *) echo "usage: $0 [all|test|bench]" >&2; exit 2 ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${IE_GPU_BUILD_DIR:-build-gpu}
ARCHS=${IE_CUDA_ARCHS:-90}
BUDGET=${IE_GPU_BUDGET:-540}
JOBS=${IE_GPU_JOBS:-$(nproc)}
OUT=${OUT:-$ROOT/$BUILD/out}
mkdir -p "$OUT"
START=$SECONDS
STATUS=$(mktemp /tmp/ie-gpu-status.XXXXXX)
ANY_FAIL=0
export PYTHONUNBUFFERED=1
left() { echo $((BUDGET - (SECONDS - START))); }
note() { printf '\n### %s (t=%ds)\n' "$*" "$((SECONDS - START))"; }
status() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$STATUS"; }
do_test() { [ "$MODE" = all ] || [ "$MODE" = test ]; }
do_bench() { [ "$MODE" = all ] || [ "$MODE" = bench ]; }

# ---- environment ---------------------------------------------------------------------------------
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=$PATH:/usr/local/cuda/bin; fi
HAVE_GPU=0
command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU' && HAVE_GPU=1
note "environment"
{
  echo "mode: $MODE  root: $ROOT  build: $BUILD  archs: $ARCHS  jobs: $JOBS  budget: ${BUDGET}s"
  date -u
  uname -a
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1
  else
    echo "nvidia-smi: not found"
  fi
  nvcc --version 2>&1 | tail -2 || echo "nvcc: not found"
  cmake --version 2>&1 | head -1
  ninja --version 2>&1 | sed 's/^/ninja /' || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1
} | tee "$OUT/env.txt"

# A node for vitest and the addon: PATH, else the carried one (.gpu/node.xz + .gpu/node_modules.tar.xz).
unxz_to() {  # unxz_to SRC.xz DEST (xz may be missing: python's lzma is always there)
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}
if [ -f .gpu/node.xz ] && ! command -v node >/dev/null; then
  mkdir -p /tmp/ie-node/bin
  unxz_to .gpu/node.xz /tmp/ie-node/bin/node && chmod +x /tmp/ie-node/bin/node && export PATH=/tmp/ie-node/bin:$PATH
fi
if [ ! -e node_modules ] && [ -f .gpu/node_modules.tar.xz ]; then
  mkdir -p /tmp/ie-node
  rm -rf /tmp/ie-node/node_modules
  if command -v xz >/dev/null; then tar -xJf .gpu/node_modules.tar.xz -C /tmp/ie-node; else python3 -m tarfile -e .gpu/node_modules.tar.xz /tmp/ie-node; fi
  [ -L node_modules ] && rm -f node_modules  # a dangling link from an earlier machine
  ln -s /tmp/ie-node/node_modules node_modules
fi
[ -d .gpu/shared/parity ] && export IE_SHARED_DIR=$ROOT/.gpu/shared
# cuBLAS for the GEMM backend choice (native/src/cuda/cublas_loader.cu): PyTorch's wheels ship it
# in site-packages/nvidia/cu13/lib (CUDA 13) or nvidia/cublas/lib (CUDA 12).
if [ -z "${INSTRUCTEDIT_CUBLAS_DIRS:-}" ]; then
  INSTRUCTEDIT_CUBLAS_DIRS="$(python3 -c 'import os, nvidia; print(":".join(d for p in nvidia.__path__ for d in (p + "/cu13/lib", p + "/cublas/lib") if os.path.isdir(d)))' 2>/dev/null)"
  export INSTRUCTEDIT_CUBLAS_DIRS
fi
echo "INSTRUCTEDIT_CUBLAS_DIRS=${INSTRUCTEDIT_CUBLAS_DIRS:-} INSTRUCTEDIT_GEMM=${INSTRUCTEDIT_GEMM:-auto}" | tee -a "$OUT/env.txt"
HAVE_NODE=0
if command -v node >/dev/null && [ -d node_modules/vitest ] && [ -d node_modules/node-api-headers ]; then HAVE_NODE=1; fi
echo "node: $(command -v node >/dev/null && node --version || echo none); vitest: $HAVE_NODE; IE_SHARED_DIR=${IE_SHARED_DIR:-unset}" | tee -a "$OUT/env.txt"

# torch.compile's first compile of the UNet takes minutes: warm inductor's on-disk cache in the
# background while nvcc builds (CPU only), so the timed bench later starts from a warm cache.
WARM_PID=""
if do_bench && [ "${IE_GPU_COMPILE:-1}" != 0 ] && python3 -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  python3 bench/gpu/torch_peer.py --warm-compile-cache >>"$OUT/bench.err" 2>&1 &
  WARM_PID=$!
  echo "torch.compile cache warm-up started (pid $WARM_PID)"
fi

# ---- build ---------------------------------------------------------------------------------------
note "build ($BUILD)"
GENERATOR="Unix Makefiles"
command -v ninja >/dev/null && GENERATOR=Ninja
CFG=(-S . -B "$BUILD" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release -DIE_BUILD_TESTS=ON -DIE_BUILD_GPU_BENCH=ON
     -DIE_CUDA_ARCHITECTURES="$ARCHS")
if [ $HAVE_NODE = 1 ]; then
  # what cmake-js would pass: the N-API headers, the addon's output folder (node-gyp-build looks there)
  CFG+=(-DCMAKE_JS_INC="$ROOT/node_modules/node-api-headers/include;$ROOT/node_modules/node-addon-api"
        -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$ROOT/build/Release")
fi
t0=$SECONDS
BUILD_OK=0
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -qx "CMAKE_GENERATOR:INTERNAL=$GENERATOR" "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"  # made with another generator
fi
if { cmake "${CFG[@]}" && cmake --build "$BUILD" --parallel "$JOBS"; } >"$OUT/build.log" 2>&1; then
  BUILD_OK=1
  if grep -q 'CUDA backend ON' "$OUT/build.log"; then  # CMakeLists prints it at every configure
    status build "cmake build (archs $ARCHS)" ok "" "" "" $((SECONDS - t0)) "CUDA backend ON"
  elif [ $HAVE_GPU = 1 ]; then
    ANY_FAIL=1  # a GPU run without the CUDA backend tests nothing
    status build "cmake build (archs $ARCHS)" "NO CUDA" "" "" "" $((SECONDS - t0)) "nvcc not found: CUDA backend OFF"
  else
    status build "cmake build (archs $ARCHS)" ok "" "" "" $((SECONDS - t0)) "CUDA backend OFF (no nvcc)"
  fi
else
  ANY_FAIL=1
  status build "cmake build (archs $ARCHS)" FAILED "" "" "" $((SECONDS - t0)) "see build.log"
  grep -E "error|Error" "$OUT/build.log" | head -30
fi
tail -3 "$OUT/build.log"
TESTS="$BUILD/ie_native_tests"

# ---- native suites -------------------------------------------------------------------------------
# run_suites SUITE...: each suite in its own process (a fault in one cannot hide the others).
run_suites() {
  local s rc t1 last p f k res
  for s in "$@"; do
    local budget
    budget=$(left)
    if [ "$budget" -lt 30 ]; then
      status native "$s" "not run" "" "" "" "" "time budget spent"
      continue
    fi
    [ "$budget" -gt 240 ] && budget=240
    t1=$SECONDS
    printf '\n=== %s\n' "$s" >>"$OUT/native-tests.log"
    timeout --kill-after=10 "$budget" "$TESTS" "$s" >"/tmp/ie-suite.log" 2>&1
    rc=$?
    cat /tmp/ie-suite.log >>"$OUT/native-tests.log"
    printf '=== %s: exit %d, %ds\n' "$s" "$rc" $((SECONDS - t1)) >>"$OUT/native-tests.log"
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped' /tmp/ie-suite.log | tail -1)
    p=$(echo "$last" | awk '{print $1}'); f=$(echo "$last" | awk '{print $3}'); k=$(echo "$last" | awk '{print $5}')
    case $rc in
      0) res=ok ;;
      77) res=skipped ;;
      124|137) res=TIMEOUT; ANY_FAIL=1 ;;
      *) res=FAILED; ANY_FAIL=1 ;;
    esac
    local why=""
    [ $rc = 77 ] && why=$(grep -m1 -o 'skipped: .*' /tmp/ie-suite.log)
    [ "$res" = FAILED ] && why=$(grep -m1 -E 'FAIL |uncaught|Segmentation|Aborted|terminate' /tmp/ie-suite.log | cut -c1-100)
    status native "$s" "$res" "${p:-}" "${f:-}" "${k:-}" $((SECONDS - t1)) "$why"
    echo "native $s: $res ${last:-(no summary line: exit $rc)}"
  done
}
SUITES=$(ls tests/native/test_*.cc | sed 's#.*/test_##; s#\.cc$##' | sort)
CUDA_SUITES=$(echo "$SUITES" | grep '^cuda_' || true)
CPU_SUITES=$(echo "$SUITES" | grep -v '^cuda_' || true)
# Iterating on a few suites: IE_GPU_SUITES="cuda_attention cuda_gemm" runs only those (no CPU suites).
if [ -n "${IE_GPU_SUITES:-}" ]; then CUDA_SUITES=$IE_GPU_SUITES; CPU_SUITES=""; fi
: >"$OUT/native-tests.log"

if do_test && [ $BUILD_OK = 1 ]; then
  note "native CUDA suites: $(echo $CUDA_SUITES)"
  # shellcheck disable=SC2086
  run_suites $CUDA_SUITES

  VITEST_FILES=${IE_GPU_VITEST:-tests/ops.test.ts tests/gpu.test.ts tests/unet.test.ts}
  note "vitest $VITEST_FILES"
  if [ "$VITEST_FILES" = none ]; then
    status vitest "vitest" "not run" "" "" "" "" "IE_GPU_VITEST=none"
  elif [ $HAVE_NODE = 1 ] && [ -f build/Release/instructedit.node ]; then
    t1=$SECONDS
    b=$(left); [ "$b" -gt 300 ] && b=300
    timeout --kill-after=10 "$b" node node_modules/vitest/vitest.mjs run $VITEST_FILES --reporter=verbose --no-color \
      >"$OUT/vitest.log" 2>&1
    rc=$?
    sed -n '/Test Files/,$p' "$OUT/vitest.log"
    line=$(grep -E '^ +Tests ' "$OUT/vitest.log" | tail -1)
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+'); f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+'); k=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+')
    if [ $rc = 0 ]; then res=ok; else res=FAILED; ANY_FAIL=1; fi
    cuda_note=$(grep -q 'skipped: no CUDA device' "$OUT/vitest.log" && echo "cuda blocks skipped (no CUDA device)" || echo "cuda blocks ran")
    status vitest "vitest ops, gpu, unet" "$res" "${p:-0}" "${f:-0}" "${k:-0}" $((SECONDS - t1)) "$cuda_note"
  else
    echo "no node (or no addon build): vitest not run. Pack one with scripts/gpu-carry.sh and carry .gpu" | tee "$OUT/vitest.log"
    status vitest "vitest ops, gpu, unet" "not run" "" "" "" "" "no node: run scripts/gpu-carry.sh, carry .gpu"
  fi
fi

# ---- benchmark -----------------------------------------------------------------------------------
if do_bench; then
  if [ -n "$WARM_PID" ]; then
    note "waiting for the torch.compile warm-up"
    wait "$WARM_PID" || echo "warm-up exited non-zero (see bench.err); the bench compiles itself"
  fi
  note "benchmark: instructedit (ie_bench_gpu)"
  if [ $BUILD_OK = 1 ] && [ -x "$BUILD/ie_bench_gpu" ]; then
    b=$(left); [ "$b" -gt 150 ] && b=150; [ "$b" -lt 10 ] && b=10
    BENCH_ARGS=()
    [ -n "${IE_GPU_BENCH_ONLY:-}" ] && BENCH_ARGS+=(--only "$IE_GPU_BENCH_ONLY")
    timeout --kill-after=10 "$b" "$BUILD/ie_bench_gpu" "${BENCH_ARGS[@]}" >"$OUT/bench-ours.jsonl" 2>>"$OUT/bench.err" \
      || echo "ie_bench_gpu exited $? (see bench.err)"
  else
    echo '{"name": "device", "impl": "instructedit", "status": "not built"}' >"$OUT/bench-ours.jsonl"
  fi
  tail -n 100 "$OUT/bench-ours.jsonl"
  note "benchmark: PyTorch peer (bench/gpu/torch_peer.py)"
  b=$(left); [ "$b" -lt 20 ] && b=20
  PEER_ARGS=()
  [ "${IE_GPU_COMPILE:-1}" = 0 ] && PEER_ARGS+=(--no-compile)
  timeout --kill-after=10 "$b" python3 bench/gpu/torch_peer.py "${PEER_ARGS[@]}" >"$OUT/bench-torch.jsonl" 2>>"$OUT/bench.err" \
    || echo "torch_peer.py exited $? (see bench.err; a timeout keeps the rows printed so far)"
  tail -n 100 "$OUT/bench-torch.jsonl"
fi

# ---- CPU suites (CI runs them too; here with the time that is left) ----------------------------------
if do_test && [ $BUILD_OK = 1 ]; then
  note "native CPU suites"
  # shellcheck disable=SC2086
  run_suites $CPU_SUITES
fi

# ---- summary -------------------------------------------------------------------------------------
note "summary"
SUM=(--status "$STATUS" --elapsed $((SECONDS - START)) --out "$OUT/summary.txt")
do_bench && SUM+=(--ours "$OUT/bench-ours.jsonl" --torch "$OUT/bench-torch.jsonl")
python3 bench/gpu/summary.py "${SUM[@]}" || { echo "summary.py failed; raw status:"; cat "$STATUS"; }
rm -f "$STATUS" /tmp/ie-suite.log
exit $ANY_FAIL
