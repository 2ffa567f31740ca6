"""Preemption: SIGUSR1/SIGTERM flip should_stop; bilstm-train then checkpoints and exits 75."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bilstm_jax.training import preemption, run_files

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def stop():
  request = preemption.install_stop_request()
  yield request
  request.uninstall()


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_signal_to_own_process_flips_should_stop(stop, signum):
  assert not stop()
  os.kill(os.getpid(), signum)
  time.sleep(0.01)  # Python runs the handler at the next bytecode boundary
  assert stop() and stop.signal_name == signal.Signals(signum).name


def test_a_quick_repeat_is_the_same_request(stop):
  os.kill(os.getpid(), signal.SIGUSR1)
  os.kill(os.getpid(), signal.SIGUSR1)  # e.g. SLURM's and the batch script's copies
  time.sleep(0.01)
  assert stop.signal_name == "SIGUSR1"  # still alive: the second one did not kill us


def test_uninstall_restores_previous_handlers():
  before = signal.getsignal(signal.SIGUSR1)
  request = preemption.install_stop_request()
  assert signal.getsignal(signal.SIGUSR1) != before
  request.uninstall()
  assert signal.getsignal(signal.SIGUSR1) == before


def test_a_late_repeat_kills_a_stuck_process():
  child = subprocess.Popen(
      [sys.executable, "-c", "import time; from bilstm_jax.training import preemption; "
       "preemption.REPEAT_GRACE_S = 0.2; preemption.install_stop_request(); "
       "print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
  assert child.stdout.readline().strip() == "ready"
  child.send_signal(signal.SIGTERM)
  time.sleep(0.5)
  assert child.poll() is None  # first request: recorded, the process carries on
  child.send_signal(signal.SIGTERM)
  assert child.wait(timeout=10) == -signal.SIGTERM


def test_bilstm_train_checkpoints_and_exits_75_on_sigusr1(tmp_path):
  """The real CLI: SIGUSR1 mid-run -> checkpoint, exit 75; rerun -> resumes and finishes."""
  workdir = str(tmp_path / "run")
  command = [sys.executable, "-m", "bilstm_jax.training.cli", "--config",
             os.path.join(ROOT, "configs", "synthetic.py:smoke"), "--workdir", workdir,
             "--config.total_steps=100000", "--config.log_every_steps=10",
             "--config.eval_every_steps=100000", "--config.ckpt_every_steps=100000",
             "--config.wandb.mode=disabled"]
  proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  lines = []
  for line in proc.stdout:  # wait until it is really training
    lines.append(line)
    if line.startswith("step 20:"):
      proc.send_signal(signal.SIGUSR1)
      break
  out = "".join(lines) + proc.stdout.read()
  assert proc.wait(timeout=120) == preemption.EXIT_PREEMPTED, out
  assert "stopped by SIGUSR1" in out
  assert os.listdir(os.path.join(workdir, "checkpoints", "latest"))
  assert run_files.read_results(workdir) is None
