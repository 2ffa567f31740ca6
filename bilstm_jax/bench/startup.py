"""Start-up of `bilstm-train`: seconds to the first training step, peak RSS, TensorFlow or not.

  python -m bilstm_jax.bench.startup --repeats 3 --out startup.json -- \\
      --config configs/ud_pos.py --config.data.source_dir=<data>/ud_english_ewt

Runs the trainer `--repeats` times (a fresh run directory each) on data that a first,
unmeasured, run prepares, and reads from outside the process when its `step 1:` log line
appears: the wall time since launch, the peak RSS so far (VmHWM) and whether TensorFlow's
library is mapped into it (/proc/<pid>/maps); then the run is killed. Measured from outside,
so the same script times any version of the trainer (PYTHONPATH picks the code). Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

STEP_ARGS = ["--config.total_steps=2", "--config.log_every_steps=1",
             "--config.eval_every_steps=2", "--config.ckpt_every_steps=2"]


def _proc(pid: int, name: str) -> str:
  with open(f"/proc/{pid}/{name}") as f:
    return f.read()


def _peak_rss_mib(status: str) -> float:
  kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
  return int(kib) / 1024


def time_one(train_args: list[str], workdir: str) -> dict:
  """One run up to its first step: seconds, peak RSS so far, TensorFlow mapped (or None)."""
  argv = [sys.executable, "-m", "bilstm_jax.training.cli", *train_args, *STEP_ARGS,
          f"--workdir={workdir}"]
  start = time.perf_counter()
  proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "WANDB_MODE": "disabled"})
  result, tail = None, []
  for line in proc.stdout:
    tail = (tail + [line])[-30:]
    if result is None and line.startswith("step 1:"):
      result = {"first_step_s": time.perf_counter() - start,
                "peak_rss_mib": _peak_rss_mib(_proc(proc.pid, "status")),
                "tensorflow_mapped": "_pywrap_tensorflow" in _proc(proc.pid, "maps")}
      proc.kill()
      break
  proc.stdout.close()
  proc.wait()
  if result is None:
    raise RuntimeError("bilstm-train failed:\n" + "".join(tail))
  return result


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--out", help="write the runs and their medians here (JSON)")
  parser.add_argument("train_args", nargs="+", help="bilstm-train flags after --")
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as root:
    # Prepares the data (and fills any compilation cache the environment names); not counted.
    time_one(args.train_args, os.path.join(root, "prepare"))
    runs = [time_one(args.train_args, os.path.join(root, f"run{i}"))
            for i in range(args.repeats)]
  medians = {key: sorted(run[key] for run in runs)[len(runs) // 2]
             for key in ("first_step_s", "peak_rss_mib")}
  result = {"train_args": args.train_args, "runs": runs, "median": medians}
  print(json.dumps(result, indent=1))
  if args.out:
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  main()
