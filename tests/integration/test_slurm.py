"""A real SLURM cluster (slurm/local-cluster.sh), no mocks: a sweep as a job array, and a
preempted array task that requeues, resumes and ends bit-identical to an uninterrupted run.

Skipped unless a cluster answers; with BILSTM_SLURM_TESTS=1 (set by .ci/run) an unreachable
cluster is a failure instead. About 2-3 minutes on 2 CPU cores.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "experiments", "quickstart.py")
SYNTHETIC = os.path.join(ROOT, "configs", "synthetic.py")
SLURM_OPTIONS = ["--backend", "slurm", "--cpus-per-task", "1", "--mem", "1G", "--time",
                 "00:10:00", "--max-parallel", "2"]


def _env():
  return {**os.environ, "WANDB_MODE": "disabled"}


def _sweep_cli(*args, timeout=120) -> str:
  result = subprocess.run([sys.executable, "-m", "bilstm_jax.sweeps.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=_env())
  assert result.returncode == 0, result.stdout + result.stderr
  return result.stdout


def _submit(sweep_file, sweep_dir) -> str:
  out = _sweep_cli("run", sweep_file, "--sweep-dir", sweep_dir, *SLURM_OPTIONS)
  match = re.search(r"submitted array job (\d+)", out)
  assert match, out
  return match.group(1)


def _queued(job_id) -> list[str]:
  out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i %T"], capture_output=True,
                       text=True, timeout=15)
  return out.stdout.split("\n") if out.stdout.strip() else []


def _wait_gone(job_id, timeout_s, what):
  deadline = time.time() + timeout_s
  while _queued(job_id):
    if time.time() > deadline:
      subprocess.run(["scancel", job_id], timeout=15, check=False)
      pytest.fail(f"{what}: job {job_id} still queued after {timeout_s} s: {_queued(job_id)}")
    time.sleep(2)


def _read(path) -> str:
  with open(path) as f:
    return f.read()


def test_quickstart_sweep_as_a_job_array(tmp_path):
  """The quickstart sweep, shrunk (forward-only and `sum`, 2 seeds, :smoke), as one array."""
  sweep_file = tmp_path / "quickstart_ci.py"
  sweep_file.write_text(textwrap.dedent(f"""
      import importlib.util
      from bilstm_jax.sweeps import spec as sweep
      _spec = importlib.util.spec_from_file_location("quickstart", {QUICKSTART!r})
      quickstart = importlib.util.module_from_spec(_spec)
      _spec.loader.exec_module(quickstart)

      def get_sweep():
        full = quickstart.get_sweep()
        rows = [r for r in full.rows if r.get("model.merge") in (None, "sum")]
        return sweep.Sweep(config={SYNTHETIC + ":smoke"!r}, rows=rows, table=full.table)
      """))
  sweep_dir = str(tmp_path / "runs")
  job_id = _submit(str(sweep_file), sweep_dir)
  _wait_gone(job_id, 180, "quickstart array")

  out = _sweep_cli("table", str(sweep_file), "--sweep-dir", sweep_dir, "--tables-dir",
                   str(tmp_path / "tables"))
  assert "4 of 4 runs done" in out and "Not in the table" not in out, out
  # mean ± std over both seeds; bold if best, † if not significantly worse than the best
  cell = r"(\*\*)?[\d.]+ ± [\d.]+(\*\*)?†? \(2\)"
  assert re.search(rf"\| False \| – \| {cell} \|", out), out
  assert re.search(rf"\| True \| sum \| {cell} \|", out), out
  for name in ("bidirectional=False,seed=0", "bidirectional=True,merge=sum,seed=1"):
    results = json.loads(_read(os.path.join(sweep_dir, "quickstart_ci", name, "results.json")))
    assert results["slurm"]["SLURM_ARRAY_JOB_ID"] == job_id
  assert os.path.getsize(tmp_path / "tables" / "quickstart_ci.tex") > 0

  # Resubmitting a finished sweep submits nothing.
  assert "all rows finished" in _sweep_cli("run", str(sweep_file), "--sweep-dir", sweep_dir,
                                           *SLURM_OPTIONS)


def test_preempted_task_requeues_and_matches_an_uninterrupted_run(tmp_path):
  """USR1 to a running array task: checkpoint, exit 75, requeue, resume, same params."""
  rows = {"total_steps": 300, "model.units": 64, "model.num_layers": 2,
          "log_every_steps": 10, "eval_every_steps": 100, "ckpt_every_steps": 100,
          "data.train_size": 1024, "seed": 0}
  sweep_file = tmp_path / "preempt.py"
  sweep_file.write_text(textwrap.dedent(f"""
      from bilstm_jax.sweeps import spec as sweep
      def get_sweep():
        return sweep.Sweep(config={SYNTHETIC!r}, rows=[{rows!r}])
      """))
  # The uninterrupted reference runs locally meanwhile (same row, another sweep dir).
  reference = subprocess.Popen(
      [sys.executable, "-m", "bilstm_jax.sweeps.cli", "run", str(sweep_file), "--backend", "local",
       "--sweep-dir", str(tmp_path / "reference")], cwd=ROOT, env=_env(),
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  sweep_dir = str(tmp_path / "runs")
  job_id = _submit(str(sweep_file), sweep_dir)
  workdir = os.path.join(sweep_dir, "preempt", "run")
  log = os.path.join(workdir, "train.log")

  # Preempt once the task is really training (a metrics line past step 20).
  deadline = time.time() + 120
  while not (os.path.exists(log) and re.search(r"^step ([2-9]\d|\d{3}):", _read(log), re.M)):
    assert time.time() < deadline, f"job {job_id} never started training"
    time.sleep(0.2)
  subprocess.run(["scancel", "--signal=USR1", "--batch", f"{job_id}_0"], timeout=15, check=True)
  _wait_gone(job_id, 180, "preempted task")

  text = _read(log)
  stopped = re.search(r"stopped at step (\d+)", text)
  assert stopped and 0 < int(stopped.group(1)) < 300, text
  assert f"resumed {workdir} from step {stopped.group(1)}" in text, text
  assert "stopped by SIGUSR1" in text and "restart=1" in text, text
  slurm_out = _read(os.path.join(sweep_dir, "preempt", "slurm", f"{job_id}_0.out"))
  assert "row 0 exited 75" in slurm_out and f"requeueing {job_id}_0" in slurm_out, slurm_out
  results = json.loads(_read(os.path.join(workdir, "results.json")))
  assert results["slurm"]["SLURM_RESTART_COUNT"] == "1"
  assert results["final_step"] == 300

  assert reference.wait(timeout=180) == 0, reference.stdout.read()
  expected = json.loads(_read(os.path.join(tmp_path, "reference", "preempt", "run",
                                           "results.json")))
  assert results["params_sha256"] == expected["params_sha256"]
  assert results["test/accuracy"] == expected["test/accuracy"]
