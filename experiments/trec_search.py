"""A random recipe search on TREC: configs/trec.py with sampled changes, 3 seeds each, every run
trained by the project's own `train.train_and_evaluate`, many runs at once on one machine (GPU
workers sharing its GPU, CPU workers pinned to a core each).

Made for a machine without TensorFlow (the lent GPU machine's image has JAX, Flax, Optax and
Orbax but no TensorFlow): `prep` encodes TREC here with the real pipeline (TFDS builder,
vocabulary) and pickles the arrays; `run` trains from them there, replacing `data.get_datasets`
and nothing else. `run` appends one JSON line per finished run to OUT/results.jsonl and skips
the (config, seed) pairs already in it, so it resumes; `table` prints the summary.

  python experiments/trec_search.py prep ../shared/data/trec ARRAYS
  python experiments/trec_search.py run ARRAYS OUT --gpu-workers 10 --cpu-workers 5 \\
      --gpu-seconds 400 --cpu-seconds 320     (needs ml_collections importable)
  python experiments/trec_search.py table OUT/results.jsonl
"""
import argparse
import collections
import json
import os
import pickle
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # run as a script from anywhere

# pylint: disable=wrong-import-position
import jax

from bilstm_jax import data
from bilstm_jax.config import apply_overrides, load_config
from bilstm_jax.training import train

# pylint: enable=wrong-import-position

CONFIG = os.path.join(ROOT, "configs", "trec.py")
NUM_CONFIGS = 64
BLOCK = 16  # seeds 0, 1, 2 of 16 configs in turn: later seeds reuse the compilation cache
# Repeated values are drawn more often. The draw is seeded: the same 64 configs every time.
SPACE = {
    "model.units": [32, 64, 128, 256],
    "model.embed_dim": [100, 200, 300],
    "model.input_dropout": [0.25, 0.4, 0.5, 0.6],
    "model.output_dropout": [0.3, 0.5, 0.6],
    "model.pooling": ["mean", "mean", "max", "mean_max", "attention"],
    "optim.learning_rate": [1e-3, 2e-3, 3e-3],
    "total_steps": [1500, 3000],
    "optim.label_smoothing": [0.0, 0.1],
    "optim.weight_decay": [1e-4, 1e-2],
    "data.min_count": [1, 1, 2],
    "data.word_dropout_alpha": [0.0, 0.0, 0.25],
    "model.num_layers": [1, 1, 2],
}
MIN_COUNTS = (1, 2)


def configs() -> list[dict]:
  """The config itself, its 64-unit variant (the best CPU probe), then seeded random draws."""
  rng = random.Random(2026)
  out = [{}, {"model.units": 64}]
  while len(out) < NUM_CONFIGS:
    draw = {key: rng.choice(values) for key, values in SPACE.items()}
    if draw["model.num_layers"] == 2:
      draw["model.dropout"] = 0.3
    if draw not in out:
      out.append(draw)
  return out


def jobs() -> list[tuple[int, int]]:
  every = configs()
  order = []
  for start in range(0, len(every), BLOCK):
    for seed in range(3):
      order += [(i, seed) for i in range(start, min(start + BLOCK, len(every)))]
  return order


def prep(source_dir: str, arrays_dir: str) -> None:
  os.makedirs(arrays_dir, exist_ok=True)
  for min_count in MIN_COUNTS:
    config = load_config(CONFIG)
    apply_overrides(config, {"data.source_dir": source_dir, "data.min_count": min_count})
    splits, info = data.get_datasets(config.data, None)
    with open(os.path.join(arrays_dir, f"trec_min_count{min_count}.pkl"), "wb") as f:
      pickle.dump((splits, info), f)
    print(f"min_count={min_count}:", {k: len(v.labels) for k, v in splits.items()},
          f"vocabulary {info['vocab_size']}")


def _finished(results_path: str) -> set[tuple[int, int]]:
  if not os.path.exists(results_path):
    return set()
  with open(results_path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return {(r["config"], r["seed"]) for r in rows if "error" not in r}


def worker(arrays_dir: str, out_dir: str, claims_dir: str, deadline: float) -> None:
  jax.config.update("jax_default_matmul_precision", "highest")  # float32 matmuls, not TF32
  loaded = {}

  def get_datasets(data_cfg, workdir=None):  # pylint: disable=unused-argument
    if data_cfg.min_count not in loaded:
      with open(os.path.join(arrays_dir, f"trec_min_count{data_cfg.min_count}.pkl"), "rb") as f:
        loaded[data_cfg.min_count] = pickle.load(f)
    return loaded[data_cfg.min_count]

  data.get_datasets = get_datasets  # the one change: arrays instead of the TFDS pipeline
  results_path = os.path.join(out_dir, "results.jsonl")
  every, done = configs(), _finished(results_path)
  for i, seed in jobs():
    if time.time() > deadline:
      return
    if (i, seed) in done:
      continue
    try:  # the first worker to create the claim file trains the run
      os.close(os.open(os.path.join(claims_dir, f"{i}.{seed}"), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
      continue
    config = load_config(CONFIG)
    apply_overrides(config, {**every[i], "seed": seed, "wandb.mode": "disabled"})
    line = {"config": i, "seed": seed, "overrides": every[i]}
    start = time.time()
    try:
      results = train.train_and_evaluate(config, os.path.join(claims_dir, "runs", f"{i}.{seed}"))
      line.update({k: results[k] for k in ("val/accuracy", "test/accuracy", "best_step")})
    except Exception:  # pylint: disable=broad-except
      line["error"] = traceback.format_exc()[-2000:]
    line.update(wall_s=round(time.time() - start, 1), platform=jax.default_backend())
    with open(results_path, "a") as f:  # one short line per write: appends do not interleave
      f.write(json.dumps(line) + "\n")


def run(args) -> None:
  os.makedirs(args.out_dir, exist_ok=True)
  claims_dir = tempfile.mkdtemp(prefix="trec_search_")
  start = time.time()
  env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
         "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
  procs = []
  for k in range(args.gpu_workers + args.cpu_workers):
    on_cpu = k >= args.gpu_workers
    seconds = args.cpu_seconds if on_cpu else args.gpu_seconds
    cmd = [sys.executable, __file__, "_worker", args.arrays_dir, args.out_dir, claims_dir,
           str(start + seconds)]
    if on_cpu and shutil.which("taskset"):  # one core each, counting down from the last
      cmd = ["taskset", "-c", str(os.cpu_count() - 1 - (k - args.gpu_workers))] + cmd
    # The worker's log stays open for its lifetime; Popen holds it.
    log = open(os.path.join(claims_dir, f"worker{k}.log"), "w")  # pylint: disable=R1732
    procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  env={**env, **({"JAX_PLATFORMS": "cpu"} if on_cpu else {})}))
  for proc in procs:
    proc.wait()
  print(f"{len(_finished(os.path.join(args.out_dir, 'results.jsonl')))} runs finished "
        f"in {time.time() - start:.0f} s; worker logs in {claims_dir}")


def table(results_path: str) -> None:
  """Configs with all 3 seeds, best dev first: dev mean, test mean ± std, and the values that
  differ from configs/trec.py."""
  base = load_config(CONFIG)

  def changed(overrides):
    out = []
    for key, value in overrides.items():
      node = base
      for part in key.split("."):
        node = node[part]
      if node != value:
        out.append(f"{key.split('.')[-1]}={value}")
    return ", ".join(out) or "(none)"

  with open(results_path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  runs = collections.defaultdict(dict)
  for r in rows:
    if "error" not in r:
      runs[r["config"]][r["seed"]] = r
  full = [(i, list(by_seed.values())) for i, by_seed in runs.items() if len(by_seed) == 3]
  full.sort(key=lambda item: -statistics.mean(r["val/accuracy"] for r in item[1]))
  failed = {(r["config"], r["seed"]) for r in rows if "error" in r}
  failed -= {(i, seed) for i, by_seed in runs.items() for seed in by_seed}
  print(f"{len(full)} configs with 3 seeds, of {len(runs)} with any; "
        f"{len(failed)} runs failed and not re-run\n")
  print("| config | dev | test | changes to configs/trec.py |\n|---:|---:|---:|---|")
  for i, seeds in full:
    test = [r["test/accuracy"] for r in seeds]
    print(f"| {i} | {statistics.mean(r['val/accuracy'] for r in seeds):.4f} | "
          f"{statistics.mean(test):.4f} ± {statistics.stdev(test):.4f} | "
          f"{changed(seeds[0]['overrides'])} |")


def main() -> None:
  if sys.argv[1:2] == ["_worker"]:
    worker(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
    return
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True)
  p = sub.add_parser("prep")
  p.add_argument("source_dir")
  p.add_argument("arrays_dir")
  p = sub.add_parser("run")
  p.add_argument("arrays_dir")
  p.add_argument("out_dir")
  p.add_argument("--gpu-workers", type=int, default=0)
  p.add_argument("--cpu-workers", type=int, default=1)
  p.add_argument("--gpu-seconds", type=float, default=400, help="no new GPU run after this")
  p.add_argument("--cpu-seconds", type=float, default=320, help="no new CPU run after this")
  p = sub.add_parser("table")
  p.add_argument("results")
  args = parser.parse_args()
  if args.command == "prep":
    prep(args.source_dir, args.arrays_dir)
  elif args.command == "run":
    run(args)
  else:
    table(args.results)


if __name__ == "__main__":
  main()
