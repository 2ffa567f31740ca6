#!/usr/bin/env bash
# Runs the cpu grid of every reproduction sweep on this machine and writes its table to results/.
#   bash experiments/reproduce.sh DATA_ROOT [SWEEP ...]    (DATA_ROOT: the data folder)
# The TREC recipe search (192 runs) is run only when named: reproduce.sh DATA_ROOT trec_search.
# Finished rows are skipped, so an interrupted call resumes; each table is rewritten from the
# run directories, listing any run that did not finish.
set -uo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bash experiments/reproduce.sh DATA_ROOT [SWEEP ...] (DATA_ROOT: the data folder)}
shift
declare -A SOURCE=(
  [trec]=trec [trec_pooling]=trec [trec_chars]=trec [trec_search]=trec
  [ud_pos_chars]=ud_english_ewt [ud_pos]=ud_english_ewt
  [sst2]=sst/stsa.binary [sst2_pooling]=sst/stsa.binary [fsdd]=fsdd [conll2003]=conll2003
  [digits_ctc]=fsdd [digits_framewise]=fsdd [sst_trees]=sst
  [learning_curves]=ud_english_ewt [learning_curves:sst2]=sst/stsa.binary)
sweeps=("$@")
[ ${#sweeps[@]} -gt 0 ] || sweeps=(trec trec_pooling trec_chars ud_pos_chars ud_pos sst2 sst2_pooling fsdd conll2003
  digits_ctc digits_framewise sst_trees learning_curves learning_curves:sst2)
export WANDB_MODE=${WANDB_MODE:-disabled}
# JAX's persistent compilation cache: the seeds of a row (and rows that share shapes) reuse the
# compiled train/eval steps instead of compiling every bucket again. Keyed by program and
# backend, kept on this machine.
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-$HOME/.cache/bilstm_jax/xla}
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=${JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS:-0}
sweep_cli=${SWEEP_CLI:-.venv/bin/bilstm-sweep}
status=0
for name in "${sweeps[@]}"; do
  if [ -z "${SOURCE[$name]+x}" ]; then
    echo "unknown sweep '$name'; allowed: ${!SOURCE[*]}" >&2
    exit 2
  fi
  set_arg=(--set "data.source_dir=$data/${SOURCE[$name]}")
  start=$(date +%s)
  # NAME or NAME:GRID (a sweep file's other grid, e.g. learning_curves:sst2).
  file="experiments/${name%%:*}.py"
  [[ $name == *:* ]] && file+=":${name#*:}"
  "$sweep_cli" run "$file" "${set_arg[@]}" --backend local --workers 2 || status=1
  "$sweep_cli" table "$file" "${set_arg[@]}" --tables-dir results || status=1
  echo "$name: $(( $(date +%s) - start )) s on this call"
done
exit $status
