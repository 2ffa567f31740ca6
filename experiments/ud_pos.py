"""UD English-EWT UPOS tagging: merge mode x depth x units, 3 seeds, word embeddings only.

Run it (official train/dev/test; without source_dir, TFDS `universal_dependencies/en_ewt`):
  bilstm-sweep run experiments/ud_pos.py --backend local --workers 2 \\
      --set data.source_dir=<data>/ud_english_ewt
  bilstm-sweep table experiments/ud_pos.py --set data.source_dir=<data>/ud_english_ewt
The character encoder against word-only is its own sweep: experiments/ud_pos_chars.py.
Grids: `cpu` (the default, sized for about an hour on 2 CPU cores) and `paper` (a SLURM array).
Merge 'none' is the concat model (the tagger reads the pair concatenated): its rows show
`= concat` in the table and are not run.
"""

from bilstm_jax import MERGE_MODES
from bilstm_jax.sweeps import spec as sweep

GRIDS = {
    # Half the config's 4000 steps (~5 epochs): dev accuracy is within ~0.5 point by then.
    "cpu": {"layers": [1, 2], "units": [64], "fixed": [("total_steps", [2000])]},
    "paper": {"layers": [1, 2, 3], "units": [100, 200, 300], "fixed": [("total_steps", [8000])]},
}


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  return sweep.Sweep(
      config="configs/ud_pos.py",
      # Columns (depth, units) outermost: a sweep stopped part-way leaves whole columns.
      rows=sweep.product(*g["fixed"], ("model.num_layers", g["layers"]),
                         ("model.units", g["units"]), ("model.merge", list(MERGE_MODES)),
                         sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.merge",),
                        cols=("model.num_layers", "model.units"),
                        title=f"UD English-EWT UPOS ({grid} grid): test accuracy, word-only"),
  )
