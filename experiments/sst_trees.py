"""SST-2 and SST-1 trained on the treebank's labelled phrases (Kim 2014, Tai et al. 2015): the
Bi-LSTM of configs/sst2.py:trees (1 layer, concat, final states), 3 seeds.

Run it (the data folder's sst/ holds trainDevTestTrees_PTB.zip):
  bilstm-sweep run experiments/sst_trees.py --backend local --workers 2 \\
      --set data.source_dir=<data>/sst
  bilstm-sweep table experiments/sst_trees.py --set data.source_dir=<data>/sst
Training reads every labelled node of the training trees (SST-2: 76,961 distinct phrases
without the neutral ones; SST-1: 156,817); dev and test are whole sentences. The sentence-only
rows to compare with are the sst2 table (stsa.binary files, the same sentences).
Grids: `cpu` (the default: 6 runs, 8,000 steps, ~30 min on 2 CPU cores) and `paper` (wider,
longer) for a cluster.
"""

from bilstm_jax.sweeps import spec as sweep

GRIDS = {
    # 8,000 steps: SST-2's best dev checkpoint of a 12,000-step run (seed 0) was at 7,000.
    "cpu": {"units": [128], "fixed": [("total_steps", [8000])]},
    "paper": {"units": [256], "fixed": [("total_steps", [16000])]},
}


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  return sweep.Sweep(
      config="configs/sst2.py:trees",
      rows=sweep.product(*g["fixed"], ("model.units", g["units"]),
                         ("data.sst_classes", [2, 5]), sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("data.sst_classes",),
                        cols=("model.units",),
                        title=f"SST trained on phrases ({grid} grid): test accuracy, SST-2 "
                              "(2 classes) and SST-1 (5)"),
  )
