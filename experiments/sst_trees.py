"""SST-2 and SST-1 trained on the treebank's labelled phrases (Kim 2014, Tai et al. 2015) or on
its sentences only: the Bi-LSTM of configs/sst2.py:trees (1 layer, concat, final states), 3 seeds.

Run it (the data folder's sst/ holds trainDevTestTrees_PTB.zip):
  bilstm-sweep run experiments/sst_trees.py --backend local --workers 2 \\
      --set data.source_dir=<data>/sst
  bilstm-sweep table experiments/sst_trees.py --set data.source_dir=<data>/sst
Phrase rows train on every labelled node of the training trees (SST-2: 76,961 distinct
phrases without the neutral ones; SST-1: 156,817), sentence rows on the 6,920 (SST-2) or
8,544 (SST-1) training sentences alone; dev and test are whole sentences in both.
Grids: `cpu` (the default: 12 runs, 8,000 phrase steps, ~25 min on 2 CPU cores) and `paper`
(wider, longer) for a cluster.
"""

from bilstm_jax.sweeps import spec as sweep

GRIDS = {
    # 8,000 steps: SST-2's best dev checkpoint of a 12,000-step run (seed 0) was at 7,000.
    "cpu": {"units": [128], "sentence_steps": 1300, "phrase_steps": 8000},
    "paper": {"units": [256], "sentence_steps": 2600, "phrase_steps": 16000},
}


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  # Sentence-only rows train as configs/sst2.py does on 6,920 sentences (1,300 steps, a dev
  # check every 100); phrase rows see ~11x the examples, so they train longer and check less.
  training = sweep.zipped(("data.sst_phrases", [False, True]),
                          ("total_steps", [g["sentence_steps"], g["phrase_steps"]]),
                          ("eval_every_steps", [100, 500]), ("ckpt_every_steps", [100, 500]))
  return sweep.Sweep(
      config="configs/sst2.py:trees",
      rows=sweep.product(("model.units", g["units"]), training,
                         ("data.sst_classes", [2, 5]), sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("data.sst_phrases",),
                        cols=("data.sst_classes",),
                        title=f"SST from the treebank ({grid} grid): test accuracy, trained on "
                              "sentences or on every labelled phrase; SST-2 (2 classes), "
                              "SST-1 (5)"),
  )
