#!/usr/bin/env bash
# The whole trainer on a GPU against a plain PyTorch training loop, into one report folder:
# bilstm-train on UD EWT, FSDD and the synthetic task for a fixed number of steps, the PyTorch
# loop (bilstm_jax/bench/torch_trainer.py) on the same configs and the same batches, then the
# quickstart sweep as a user runs it.
#   bash experiments/gpu_trainer.sh DATA_ROOT [OUT_DIR] [--dry-run]    (OUT_DIR: runs/gpu_trainer)
# DATA_ROOT is the data folder holding ud_english_ewt/ and fsdd/. Writes OUT_DIR/report.md and
# report.json (bilstm_jax/bench/trainer_report.py), commands.sh (every command, in order),
# steps.tsv (exit status and seconds of each) and logs/. A finished bilstm-train run or sweep row
# is not run again: give a new OUT_DIR to measure afresh.
# --dry-run: the same flow on the CPU with the :smoke configs and a few steps (a check of the
# flow, not a measurement).
# Environment: STEPS (steps per bilstm-train run and PyTorch loop; 1000, dry run 6),
# UNTIMED_STEPS (PyTorch steps left out of its top-level figures; 5, dry run 2), BUDGET_S (the
# whole script's seconds: a step gets what is left, one that cannot start is skipped and the
# report is still written; 540, dry run 1200), SKIP_PREPARE=1 (the data is prepared already),
# SWEEP_WORKERS (2), BIN_DIR (where bilstm-train and python are; .venv/bin), XLA_FLAGS.
set -uo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash experiments/gpu_trainer.sh DATA_ROOT [OUT_DIR] [--dry-run]"
dry=0
positional=()
for arg in "$@"; do
  case $arg in
    --dry-run) dry=1 ;;
    -*) echo "unknown option $arg; $usage" >&2; exit 2 ;;
    *) positional+=("$arg") ;;
  esac
done
data=${positional[0]:?$usage}
out=${positional[1]:-runs/gpu_trainer}
bin=${BIN_DIR:-.venv/bin}
python=$bin/python
mkdir -p "$out/logs" "$out/train" "$out/torch"
export WANDB_MODE=disabled PYTHONUNBUFFERED=1
# Each process (two sweep rows at once) takes GPU memory as it needs it.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
# Compiled steps shared by the runs of one report (the sweep's seeds), as reproduce.sh does.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$out/xla_cache}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}
if [ $dry = 1 ]; then
  export JAX_PLATFORMS=cpu
  variant=:smoke device=cpu steps=${STEPS:-6} untimed=${UNTIMED_STEPS:-2}
  deadline=$((SECONDS + ${BUDGET_S:-1200}))
  extra=(--config.data.num_buckets=2)  # fewer shapes to compile on a CPU
  # The quickstart sweep cut to its config's :smoke size, key by key.
  sweep_set=(total_steps=$steps log_every_steps=2 batch_size=8 model.units=8 model.embed_dim=8
             data.train_size=64 data.val_size=20 data.test_size=20 data.num_buckets=2)
else
  # XLA's Triton GEMM autotuning costs ~10 s per program on an H200 (bench_gpu.sh), and the
  # trainer compiles a train and an eval step per bucket: cuBLAS GEMMs unless set otherwise.
  export XLA_FLAGS=${XLA_FLAGS---xla_gpu_enable_triton_gemm=false}
  # One GPU for both systems: with more, bilstm-train would shard each batch over all of them
  # (and round its rows up to their count), the PyTorch loop would not.
  export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-0}
  variant="" device=auto steps=${STEPS:-1000} untimed=${UNTIMED_STEPS:-5}
  deadline=$((SECONDS + ${BUDGET_S:-540}))
  extra=()
  sweep_set=()
fi
{
  echo "# $(date -u +%FT%TZ) in the repository root; environment:"
  echo "export WANDB_MODE=disabled XLA_PYTHON_CLIENT_PREALLOCATE=false" \
       "JAX_COMPILATION_CACHE_DIR=$JAX_COMPILATION_CACHE_DIR" \
       "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=$JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" \
       "XLA_FLAGS=${XLA_FLAGS:-} JAX_PLATFORMS=${JAX_PLATFORMS:-}" \
       "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-}"
} >"$out/commands.sh"
: >"$out/steps.tsv"
status=0

step() {  # step NAME LIMIT_S COMMAND...: its output to logs/NAME.log, recorded in the report
  local name=$1 limit=$2 start=$EPOCHREALTIME rc line seconds
  shift 2
  # What is left of the budget, less 30 s for the report.
  local left=$((deadline - SECONDS - 30))
  [ $left -lt $limit ] && limit=$left
  line=$(printf '%q ' "$@")
  echo "${line% }" >>"$out/commands.sh"
  if [ $limit -lt 10 ]; then
    rc=125
    echo "skipped: the budget (BUDGET_S) is spent" >"$out/logs/$name.log"
  else
    timeout "$limit" "$@" >"$out/logs/$name.log" 2>&1
    rc=$?
  fi
  seconds=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\t%s\n' "$name" "$rc" "$seconds" >>"$out/steps.tsv"
  echo "== $name: exit $rc, $seconds s (log: $out/logs/$name.log)"
  [ $rc -eq 0 ] || { status=1; tail -3 "$out/logs/$name.log"; }
}

declare -A SOURCE=([ud_pos]=ud_english_ewt [fsdd]=fsdd)
if [ "${SKIP_PREPARE:-0}" != 1 ]; then
  for task in ud_pos fsdd; do
    step "prepare_$task" 300 "$bin/bilstm-prepare" --config "configs/$task.py$variant" \
        "--config.data.source_dir=$data/${SOURCE[$task]}"
  done
fi
# Each run alone on the device. Evaluation and checkpoint once, after the last step, where the
# loop's clock has stopped: the trainer's wall time is then training alone, as the PyTorch loop's.
for task in ud_pos fsdd synthetic; do
  flags=(--config "configs/$task.py$variant" "--config.total_steps=$steps"
         "--config.eval_every_steps=$steps" "--config.ckpt_every_steps=$steps")
  if [ -n "${SOURCE[$task]:-}" ]; then
    flags+=("--config.data.source_dir=$data/${SOURCE[$task]}" "${extra[@]}")
  fi
  step "train_$task" 240 "$bin/bilstm-train" "${flags[@]}" --workdir "$out/train/$task"
  step "torch_$task" 120 "$python" -m bilstm_jax.bench.torch_trainer "${flags[@]}" \
      --device "$device" --untimed-steps "$untimed" --out "$out/torch/$task.json"
done
# The quickstart sweep as a user runs it: its own steps and evaluations, two rows at a time.
sets=()
for item in "${sweep_set[@]}"; do
  sets+=(--set "$item")
done
step sweep_run 300 "$bin/bilstm-sweep" run experiments/quickstart.py "${sets[@]}" \
    --backend local --workers "${SWEEP_WORKERS:-2}" --sweep-dir "$out/sweeps"
step sweep_table 60 "$bin/bilstm-sweep" table experiments/quickstart.py "${sets[@]}" \
    --sweep-dir "$out/sweeps" --tables-dir "$out/tables"
report=("$python" -m bilstm_jax.bench.trainer_report "$out")
[ $dry = 1 ] && report+=(--dry-run)
line=$(printf '%q ' "${report[@]}")
echo "${line% }" >>"$out/commands.sh"
"${report[@]}" >"$out/logs/report.log" 2>&1 || { status=1; tail -5 "$out/logs/report.log"; }
sed -n '1,/^## The quickstart sweep/p' "$out/report.md" 2>/dev/null | sed '$d'
echo "report: $out/report.md, $out/report.json"
exit $status
