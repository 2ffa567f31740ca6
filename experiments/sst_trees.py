"""SST-2 and SST-1 trained on the treebank's labelled phrases (Kim 2014, Tai et al. 2015) or on
its sentences only: the Bi-LSTM of configs/sst2.py:trees (1 layer, concat, final states), 3 seeds.

Run it (the data folder's sst/ holds trainDevTestTrees_PTB.zip):
  bilstm-sweep run experiments/sst_trees.py --backend local --workers 2 \\
      --set data.source_dir=<data>/sst
  bilstm-sweep table experiments/sst_trees.py --set data.source_dir=<data>/sst
Phrase rows train on every labelled node of the training trees (SST-2: 76,961 distinct
phrases without the neutral ones; SST-1: 156,817), sentence rows on the 6,920 (SST-2) or
8,544 (SST-1) training sentences alone; dev and test are whole sentences in both.
Grids: `cpu` (the default: 12 runs, 256 units, ~45 min on 2 CPU cores) and `paper` (256 and
512 units) for a cluster.
"""

from bilstm_jax.sweeps import spec as sweep

# Phrase rows train ~3.3 epochs of their phrases: SST-1 has twice SST-2's, so twice the steps
# (probes, seeds 0-1, dev: SST-1 0.462 at 8,000 steps, 0.477 at 16,000). 256 units: dev 0.833
# -> 0.839 on SST-2 and 0.462 -> 0.465 on SST-1 against 128 (8,000 steps, the same seeds).
PHRASE_STEPS = {2: 8000, 5: 16000}  # by data.sst_classes
# Sentence-only rows train as configs/sst2.py does on 6,920 sentences (1,300 steps, a dev check
# every 100); phrase rows see ~11x (SST-2) or ~18x (SST-1) the examples.
SENTENCE_STEPS = 1300
GRIDS = {"cpu": [256], "paper": [256, 512]}  # model.units


def get_sweep(grid="cpu"):
  units = sweep.pick_grid(GRIDS, grid)
  classes = list(PHRASE_STEPS)
  sentences = sweep.product(("data.sst_phrases", [False]), ("total_steps", [SENTENCE_STEPS]),
                            ("eval_every_steps", [100]), ("ckpt_every_steps", [100]),
                            ("data.sst_classes", classes))
  phrases = sweep.product(("data.sst_phrases", [True]),
                          ("eval_every_steps", [500]), ("ckpt_every_steps", [500]),
                          sweep.zipped(("data.sst_classes", classes),
                                       ("total_steps", list(PHRASE_STEPS.values()))))
  return sweep.Sweep(
      config="configs/sst2.py:trees",
      rows=sweep.product(("model.units", units), sweep.chain(sentences, phrases),
                         sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.units", "data.sst_phrases"),
                        cols=("data.sst_classes",),
                        title=f"SST from the treebank ({grid} grid): test accuracy, trained on "
                              "sentences or on phrases"),
  )
