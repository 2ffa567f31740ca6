"""Every sweep file in experiments/ loads, in each of its grids, and every row's config builds."""

import glob
import os

import pytest

from bilstm_jax.sweeps import files as sweep_files
from bilstm_jax.sweeps import plan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A script, not a sweep (the GPU check runs on import, and only means something on a CUDA GPU);
# _*.py are modules the sweep files import.
SCRIPTS = {"cudnn_gpu_check.py"}
SWEEP_FILES = sorted(p for p in glob.glob(os.path.join(ROOT, "experiments", "*.py"))
                     if os.path.basename(p) not in SCRIPTS and not os.path.basename(p)[0] == "_")


def _grids(path):
  get_sweep = sweep_files.import_get_sweep(path)
  return [None] + sorted(get_sweep.__globals__.get("GRIDS", ()))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=os.path.basename)
def test_sweep_file_loads_and_every_row_config_builds(path, tmp_path):
  assert {"fsdd.py", "ud_pos.py", "ud_pos_chars.py", "trec.py", "sst2.py", "trec_pooling.py",
          "sst2_pooling.py", "trec_search.py"} <= {os.path.basename(p) for p in SWEEP_FILES}
  for grid in _grids(path):
    spec_path = path if grid is None else f"{path}:{grid}"
    name, spec = sweep_files.load(spec_path)
    runs = plan.expand(spec, name, str(tmp_path), check=True)
    # Every head concatenates the 'none' pair: those rows are the concat ones, never run.
    assert not [r for r in plan.to_run(runs) if r.overrides.get("model.merge") == "none"]
    seeds = {run.overrides.get("seed") for run in runs}
    assert seeds == {0, 1, 2} or os.path.basename(path) == "quickstart.py"
    assert spec.table.title
