"""TREC-6: how the sentence vector is pooled from the Bi-LSTM (final states, mean, max), 3 seeds.

Run it (concat merge, one layer, as configs/trec.py):
  bilstm-sweep run experiments/trec_pooling.py --backend local --workers 2 \\
      --set data.source_dir=<data>/trec
  bilstm-sweep table experiments/trec_pooling.py --set data.source_dir=<data>/trec
Grids: `cpu` (the default: the config's depth) and `paper` (depths 1 and 2).
"""

from ._classification import by_pooling


def get_sweep(grid="cpu"):
  return by_pooling("configs/trec.py", "TREC-6", grid)
