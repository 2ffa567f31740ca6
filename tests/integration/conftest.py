"""A usable SLURM cluster or a skip; with BILSTM_SLURM_TESTS=1 (.ci/run) a missing one fails."""

import os
import subprocess

import pytest

REQUIRED = os.environ.get("BILSTM_SLURM_TESTS") == "1"


def _cluster_state() -> str:
  try:
    out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                         timeout=15)
  except (OSError, subprocess.SubprocessError) as err:
    return f"sinfo failed: {err}"
  states = out.stdout.split()
  if out.returncode == 0 and any(s.rstrip("*") in ("idle", "mixed", "allocated")
                                 for s in states):
    return "up"
  return f"sinfo exit {out.returncode}: {(out.stdout + out.stderr).strip()[:300]}"


@pytest.fixture(scope="session", autouse=True)
def cluster():
  state = _cluster_state()
  if state != "up":
    message = f"no usable SLURM cluster ({state}); start one: bash slurm/local-cluster.sh start"
    if REQUIRED:
      pytest.fail("BILSTM_SLURM_TESTS=1 but " + message, pytrace=False)
    pytest.skip(message)


