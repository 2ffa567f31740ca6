"""Learning curves: a Bi-LSTM against a forward-only LSTM as the training set grows from 1/16 to
all of it (data.train_fraction: the same nested subsets for every model and seed), 3 seeds.

Two grids, one task each (val and test are always whole):
  bilstm-sweep run experiments/learning_curves.py --backend local --workers 2 \\
      --set data.source_dir=<data>/ud_english_ewt                 # UD English-EWT UPOS
  bilstm-sweep run experiments/learning_curves.py:sst2 --backend local --workers 2 \\
      --set data.source_dir=<data>/sst/stsa.binary                # SST-2 sentences
  bilstm-sweep table experiments/learning_curves.py[:sst2] --set data.source_dir=...
Every run trains the task's own steps (UD 2,000, as experiments/ud_pos.py's cpu grid; SST-2 the
config's), choosing its checkpoint on the whole dev set, so a small fraction sees the same
examples many times. The plot draws the test metric against the fraction on a log axis.
"""

from bilstm_jax.sweeps import spec as sweep

FRACTIONS = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0]
GRIDS = {
    "ud_pos": {"config": "configs/ud_pos.py", "fixed": [("total_steps", [2000])],
               "title": "UD English-EWT UPOS: test accuracy against the training fraction"},
    "sst2": {"config": "configs/sst2.py", "fixed": [],
             "title": "SST-2: test accuracy against the training fraction"},
}


def get_sweep(grid="ud_pos"):
  g = sweep.pick_grid(GRIDS, grid)
  return sweep.Sweep(
      config=g["config"],
      rows=sweep.product(*g["fixed"], ("data.train_fraction", FRACTIONS),
                         ("model.bidirectional", [False, True]), sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.bidirectional",),
                        cols=("data.train_fraction",), plot_x="data.train_fraction",
                        title=g["title"]),
  )
