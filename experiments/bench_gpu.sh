#!/usr/bin/env bash
# The GPU rows of docs/performance.md: every bench shape in its own process, each under its own
# time limit, so a shape that runs long costs only itself.
#   bash experiments/bench_gpu.sh OUT_DIR [SECONDS_PER_SHAPE]    (default 150)
#   OURS="unroll=4 compute_dtype=bfloat16" bash experiments/bench_gpu.sh OUT_DIR
#                                  (each word an extra bilstm_jax row, as bilstm-bench --ours)
# Writes OUT_DIR/gpu_<shape>.json (written as soon as the shape is timed) and gpu_<shape>.log.
# Needs jax with a CUDA plugin, flax, optax, ml_collections; adds PyTorch (cuDNN) and Keras rows
# where they import. Cheapest shapes first; Keras only at the default shape (its compile is
# the slowest).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench_gpu.sh OUT_DIR [SECONDS_PER_SHAPE]}
limit=${2:-150}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false KERAS_BACKEND=jax
# XLA's Triton GEMM autotuning cost ~10 s per jitted program on an H200: the default shape's
# check (five systems, two programs each) ran 124 s, and no shape but the smallest finished in
# its limit; with cuBLAS GEMMs the same check took under 20 s. The same flag for every JAX row (ours, Flax,
# Keras); PyTorch does not read it. Set XLA_FLAGS yourself to time another choice.
export XLA_FLAGS=${XLA_FLAGS---xla_gpu_enable_triton_gemm=false}
python=${PYTHON:-python3}
peers=ours,flax_optimized
"$python" -c "import torch" 2>/dev/null && peers+=,torch
ours_rows=()
for spec in ${OURS:-}; do
  ours_rows+=(--ours "$spec")
done
# The cuDNN path joins the timed rows only once its GPU check passes on this machine.
PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} timeout 180 "$python" experiments/cudnn_gpu_check.py \
    >"$out/cudnn_check.log" 2>&1
grep "^PASS\|^FAIL\|^ERROR\|^--" "$out/cudnn_check.log"
grep -q "^PASS bilstm" "$out/cudnn_check.log" && ours_rows+=(--ours scan_impl=cudnn)
status=0
for shape in small default deep long; do
  systems=$peers
  if [ "$shape" = default ] && "$python" -c "import keras" 2>/dev/null; then
    systems+=,keras
  fi
  timeout "$limit" "$python" -m bilstm_jax.bench.cli --shape "$shape" --systems "$systems" "${ours_rows[@]}" \
      --matmul-size ${MATMUL_SIZE:-8192} --repeats ${REPEATS:-30} --warmup 3 --out "$out/gpu_$shape.json" \
      >"$out/gpu_$shape.log" 2>&1
  rc=$?
  echo "== $shape: exit $rc"
  grep -A8 "^| system | train" "$out/gpu_$shape.log" | head -9 || tail -5 "$out/gpu_$shape.log"
  [ $rc -eq 0 ] || status=1
done
exit $status
