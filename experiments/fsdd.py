"""FSDD spoken digits: merge mode x depth x units, 3 seeds (test = recordings 0-4 of each speaker).

Run it (the local copy of the dataset; without source_dir, TFDS `spoken_digit`):
  bilstm-sweep run experiments/fsdd.py --backend local --workers 2 \\
      --set data.source_dir=<data>/fsdd
  bilstm-sweep table experiments/fsdd.py --set data.source_dir=<data>/fsdd
Grids: `cpu` (the default: 48 runs, ~1.6 h on 2 CPU cores) and `paper` (experiments/fsdd.py:paper,
a SLURM array: more units, a third layer, MFCC+deltas as well as log-mel, the full schedule).
Merge 'none' is the concat model (the classifier reads the pair concatenated): its rows show
`= concat` in the table and are not run.
"""

from bilstm_jax import MERGE_MODES
from bilstm_jax.sweeps import spec as sweep

GRIDS = {
    # Log-mel frames, 1200 steps (~16 epochs) instead of the config's 2000: FSDD converges early
    # (probe: 64 units, 1 layer 0.977 test; 128 units, 2 layers 0.990).
    "cpu": {"layers": [1, 2], "units": [64, 128], "fixed": [("total_steps", [1200])]},
    "paper": {"layers": [1, 2, 3], "units": [64, 128, 256],
              "fixed": [("data.features", ["logmel", "mfcc"])]},
}


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  return sweep.Sweep(
      config="configs/fsdd.py",
      # Columns (depth, units) outermost: a sweep stopped part-way leaves whole columns.
      rows=sweep.product(*g["fixed"], ("model.num_layers", g["layers"]),
                         ("model.units", g["units"]), ("model.merge", list(MERGE_MODES)),
                         sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.merge",),
                        cols=("model.num_layers", "model.units"),
                        title=f"FSDD spoken digits ({grid} grid): test accuracy"),
  )
