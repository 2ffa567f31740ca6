"""Two SLURM tasks (`srun -n 2`) train data-parallel over 2 global CPU devices via gloo, and
match one process training on the same global batches."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYNTHETIC = os.path.join(ROOT, "configs", "synthetic.py")
FLAGS = [f"--config={SYNTHETIC}:smoke", "--config.total_steps=6", "--config.log_every_steps=1",
         "--config.wandb.mode=disabled"]


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [(r["step"], r["train/loss"]) for r in map(json.loads, f) if "train/loss" in r]


def test_two_task_srun_matches_one_process(tmp_path):
  two = tmp_path / "two"
  probe = ("import jax; from bilstm_jax.training import parallel; parallel.initialize_distributed(); "
           "print('process', jax.process_index(), 'of', jax.process_count(), 'devices', "
           "jax.device_count(), flush=True)")
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "WANDB_MODE": "disabled"}
  seen = subprocess.run(["srun", "-n", "2", "--cpus-per-task=1", "--time=5", sys.executable,
                         "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env=env)
  assert seen.returncode == 0, seen.stdout + seen.stderr
  assert sorted(line for line in seen.stdout.splitlines() if line.startswith("process")) == [
      "process 0 of 2 devices 2", "process 1 of 2 devices 2"], seen.stdout

  run = subprocess.run(["srun", "-n", "2", "--cpus-per-task=1", "--time=10", sys.executable,
                        "-m", "bilstm_jax.training.cli", f"--workdir={two}", *FLAGS], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env=env)
  assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
  one = tmp_path / "one"
  single = subprocess.run([sys.executable, "-m", "bilstm_jax.training.cli", f"--workdir={one}", *FLAGS],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
  assert single.returncode == 0, single.stderr[-4000:]
  got, want = _losses(two), _losses(one)
  assert [s for s, _ in got] == [s for s, _ in want] and got
  for (_, a), (_, b) in zip(got, want):
    assert abs(a - b) < 1e-4, (got, want)
  with open(two / "results.json") as f, open(one / "results.json") as g:
    r2, r1 = json.load(f), json.load(g)
  assert r2["test/count"] == r1["test/count"]
  assert abs(r2["test/loss"] - r1["test/loss"]) < 1e-4
