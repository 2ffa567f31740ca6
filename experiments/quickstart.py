"""Quickstart sweep: forward-only vs bidirectional with every merge mode, 2 seeds, one table.

Run it (10 runs of configs/synthetic.py, ~10-20 s each on 2 CPU cores; merge 'none' is the concat
model, so its row shows `= concat` and is not run):
  bilstm-sweep run experiments/quickstart.py --backend local --workers 2
  bilstm-sweep table experiments/quickstart.py      # tables/quickstart.{md,tex,png}
Expected: test accuracy ~0.70 forward-only, ~1.00 for every bidirectional merge mode.
"""

from bilstm_jax import MERGE_MODES
from bilstm_jax.sweeps import spec as sweep


def get_sweep():
  return sweep.Sweep(
      config="configs/synthetic.py",
      # Forward-only has no merge mode, so it is its own branch of the chain.
      rows=sweep.chain(
          sweep.product(("model.bidirectional", [False]), sweep.seeds(2)),
          sweep.product(("model.bidirectional", [True]), ("model.merge", list(MERGE_MODES)),
                        sweep.seeds(2)),
      ),
      table=sweep.Table(metric="test/accuracy", rows=("model.bidirectional", "model.merge"),
                        title="Synthetic tagging: test accuracy at the best validation step"),
  )
