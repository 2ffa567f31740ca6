"""Crash safety: kill -9 at random moments, damaged checkpoints, cut-short metric lines."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bilstm_jax.training import train
from tests.test_train import CONFIG, _smoke_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Long enough to be caught mid-step, mid-eval and mid-checkpoint; small enough to be quick.
KILL_FLAGS = ["--config.model.units=16", "--config.model.embed_dim=8", "--config.total_steps=240",
              "--config.ckpt_every_steps=15", "--config.eval_every_steps=40",
              "--config.log_every_steps=10", "--config.data.train_size=512",
              "--config.data.val_size=256", "--config.data.test_size=64",
              "--config.batch_size=16"]


def _launch(workdir, wandb_mode="disabled", flags=tuple(KILL_FLAGS)):
  cmd = [sys.executable, "-m", "bilstm_jax.training.cli", f"--config={CONFIG}", f"--workdir={workdir}",
         *flags]
  return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=dict(os.environ, WANDB_MODE=wandb_mode))


def _count_lines(path):
  try:
    with open(path) as f:
      return sum(1 for _ in f)
  except FileNotFoundError:
    return 0


def _wait_for_more_lines(proc, path, than, timeout_s):
  """Polls until `path` has more than `than` lines, the process exits, or the timeout; returns
  the line count then."""
  deadline = time.time() + timeout_s
  while proc.poll() is None and _count_lines(path) <= than and time.time() < deadline:
    time.sleep(0.02)
  return _count_lines(path)


def _sha(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def test_kill_9_at_random_moments_then_relaunch_gives_the_same_run(tmp_path):
  clean = _launch(tmp_path / "clean")
  # Time the clean run from its first metrics line (start-up and compilation done) to its exit:
  # the kill slices below are fractions of that, so they scale with this machine's speed and
  # leave out the compile time that every relaunch pays before it makes progress.
  _wait_for_more_lines(clean, tmp_path / "clean" / "metrics.jsonl", 0, 300)
  first_line_at = time.time()
  assert clean.wait(timeout=300) == 0, clean.stderr.read().decode()[-2000:]
  steady_s = time.time() - first_line_at
  want = _sha(tmp_path / "clean")

  workdir = tmp_path / "killed"
  rng = np.random.default_rng(1234)
  kills = 0
  for _ in range(30):  # bounded: 5 kills then run to the end
    proc = _launch(workdir)
    if kills < 5:
      # Wait for the relaunch to make progress (a new metrics line), then kill at a random
      # moment within 12% of the clean run's steady training time: during a step, an eval or a
      # save. Two more log lines (4% of the run each) end the wait early, so a relaunch that
      # runs faster than the clean run did (a machine whose load changed) still cannot finish.
      seen = _wait_for_more_lines(proc, workdir / "metrics.jsonl",
                                  _count_lines(workdir / "metrics.jsonl"), 120)
      deadline = time.time() + float(rng.uniform(0.0, 0.12)) * steady_s
      while (time.time() < deadline and proc.poll() is None
             and _count_lines(workdir / "metrics.jsonl") < seen + 2):
        time.sleep(0.01)
      if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        continue
    assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    if (workdir / "results.json").exists():
      break
  assert kills == 5
  got = _sha(workdir)
  assert got["params_sha256"] == want["params_sha256"]
  for key in ("best_step", "best_value", "val/accuracy", "test/accuracy", "test/loss"):
    assert got[key] == want[key], key
  with open(workdir / "metrics.jsonl") as f:
    steps = [json.loads(line)["step"] for line in f]
  with open(tmp_path / "clean" / "metrics.jsonl") as f:
    assert steps == [json.loads(line)["step"] for line in f]


def test_kill_9_under_wandb_started_by_a_parent_then_relaunch_resumes_the_run(tmp_path):
  # The parent (here pytest; in life a notebook or a launcher) has used W&B, so its service is
  # in the environment the trainer inherits. A trainer killed with -9 must not leave its run id
  # held in that shared service: the relaunch resumes the same W&B run and finishes.
  wandb = pytest.importorskip("wandb")
  saved_service = os.environ.get("WANDB_SERVICE")
  parent = wandb.init(mode="offline", dir=str(tmp_path), project="parent")
  try:
    assert os.environ.get("WANDB_SERVICE")
    workdir = tmp_path / "run"
    proc = _launch(workdir, wandb_mode="offline")
    _wait_for_more_lines(proc, workdir / "metrics.jsonl", 0, 300)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    relaunch = _launch(workdir, wandb_mode="offline")
    assert relaunch.wait(timeout=300) == 0, relaunch.stderr.read().decode()[-2000:]
  finally:
    parent.finish()
    if saved_service is None:
      os.environ.pop("WANDB_SERVICE", None)
    else:
      os.environ["WANDB_SERVICE"] = saved_service
  assert (workdir / "results.json").exists()
  run_id = (workdir / "wandb_id.txt").read_text().strip()
  runs = [p for p in os.listdir(workdir / "wandb") if p.startswith("offline-run-")]
  assert len(runs) == 2 and all(p.endswith(run_id) for p in runs), runs


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
  config = _smoke_config(total_steps=8)
  want = train.train_and_evaluate(config, str(tmp_path / "clean"))
  calls = []
  workdir = tmp_path / "damaged"
  train.train_and_evaluate(config, str(workdir),
                           should_stop=lambda: calls.append(1) or len(calls) > 4)
  latest = workdir / "checkpoints" / "latest"
  assert sorted(int(p) for p in os.listdir(latest) if p.isdigit()) == [2, 4]
  # Truncate every data file of step 4's state, as a full disk or a dying node would.
  truncated = 0
  for root, _, files in os.walk(latest / "4" / "state"):
    for name in files:
      with open(os.path.join(root, name), "r+b") as f:
        f.truncate(max(0, os.path.getsize(os.path.join(root, name)) // 3))
      truncated += 1
  assert truncated
  capsys.readouterr()
  # Restore, then stop at once: the damaged step is gone, not left to shadow the resumed run.
  assert train.train_and_evaluate(config, str(workdir), should_stop=lambda: True) is None
  assert sorted(int(p) for p in os.listdir(latest) if p.isdigit()) == [2]
  out = capsys.readouterr().out
  assert "skipped unreadable checkpoint step 4" in out
  assert "deleted unreadable checkpoint step 4" in out
  got = train.train_and_evaluate(config, str(workdir))
  assert "unreadable" not in capsys.readouterr().out
  assert got["params_sha256"] == want["params_sha256"]


def test_metrics_line_cut_short_by_a_kill_is_rewritten(tmp_path):
  config = _smoke_config(total_steps=8)
  want = train.train_and_evaluate(config, str(tmp_path / "clean"))
  calls = []
  workdir = tmp_path / "cut"
  train.train_and_evaluate(config, str(workdir),
                           should_stop=lambda: calls.append(1) or len(calls) > 4)
  with open(workdir / "metrics.jsonl", "a") as f:
    f.write('{"step": 6, "train/lo')  # a write interrupted mid-line
  got = train.train_and_evaluate(config, str(workdir))
  assert got["params_sha256"] == want["params_sha256"]
  with open(workdir / "metrics.jsonl") as f, open(tmp_path / "clean" / "metrics.jsonl") as g:
    assert [json.loads(x)["step"] for x in f] == [json.loads(x)["step"] for x in g]


@pytest.mark.parametrize("bad", ["val/acc", "test/accuracy"])
def test_unknown_eval_metric_is_a_config_error(tmp_path, bad):
  with pytest.raises(ValueError, match=r"config key eval_metric.*allowed: val/loss, val/accuracy"):
    train.train_and_evaluate(_smoke_config(eval_metric=bad), str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / "config.json")


def test_a_second_trainer_in_a_running_runs_workdir_is_refused_and_the_first_is_untouched(
    tmp_path):
  """Two trainers in one workdir would overwrite each other's checkpoints: the second exits
  EXIT_BUSY (73) with one line naming the holder, before it writes anything."""
  from bilstm_jax.training import workdir_lock  # pylint: disable=import-outside-toplevel
  workdir = tmp_path / "run"
  # Far more steps than the test waits for: the first is still training whatever the machine.
  flags = [f for f in KILL_FLAGS if "total_steps" not in f] + ["--config.total_steps=1000000"]
  first = _launch(workdir, flags=flags)
  try:
    assert _wait_for_more_lines(first, workdir / "metrics.jsonl", 0, 300) > 0, \
        first.stderr.read().decode()[-2000:]
    config_before = (workdir / "config.json").read_bytes()
    second = _launch(workdir, flags=flags)
    _, err = second.communicate(timeout=300)
    assert second.returncode == workdir_lock.EXIT_BUSY, err.decode()[-2000:]
    assert f"{workdir} is in use by another bilstm-train" in err.decode()
    assert f" {first.pid})" in err.decode()  # the holder's host and pid
    assert (workdir / "config.json").read_bytes() == config_before
    lines = _count_lines(workdir / "metrics.jsonl")
    assert first.poll() is None  # the first trains on, undisturbed
    assert _wait_for_more_lines(first, workdir / "metrics.jsonl", lines, 300) > lines
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=300) == 75  # checkpointed and stopped (preemption's exit)
  finally:
    first.kill()
  # Once the holder has exited its lock is gone: the relaunch resumes and trains on.
  third = _launch(workdir, flags=flags)
  try:
    lines = _count_lines(workdir / "metrics.jsonl")
    assert _wait_for_more_lines(third, workdir / "metrics.jsonl", lines, 300) > lines, \
        third.stderr.read().decode()[-2000:]
  finally:
    third.kill()
