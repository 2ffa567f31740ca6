"""TREC-6 question classification: merge mode x depth, 3 seeds (pooling: trec_pooling.py).

Run it (the local files; without source_dir, TFDS `trec`):
  bilstm-sweep run experiments/trec.py --backend local --workers 2 \\
      --set data.source_dir=../shared/data/trec
  bilstm-sweep table experiments/trec.py --set data.source_dir=../shared/data/trec
Grids: `cpu` (the default, ~30 min on 2 CPU cores) and `paper` (wider and deeper).
"""

from bilstm_jax import MERGE_MODES, sweep

GRIDS = {
    "cpu": {"layers": [1, 2], "units": [128], "seeds": 3},
    "paper": {"layers": [1, 2, 3], "units": [128, 256], "seeds": 3},
}


def get_sweep(grid="cpu"):
  if grid not in GRIDS:
    raise ValueError(f"unknown grid {grid!r}; allowed: {', '.join(GRIDS)}")
  g = GRIDS[grid]
  return sweep.Sweep(
      config="configs/trec.py",
      rows=sweep.product(("model.units", g["units"]), ("model.merge", list(MERGE_MODES)),
                         ("model.num_layers", g["layers"]), sweep.seeds(g["seeds"])),
      table=sweep.Table(metric="test/accuracy", rows=("model.merge",),
                        cols=("model.units", "model.num_layers"),
                        title=f"TREC-6 ({grid} grid): test accuracy"),
  )
