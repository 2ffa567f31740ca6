"""SST-2: how the sentence vector is pooled from the Bi-LSTM (final states, mean, max), 3 seeds.

Run it (concat merge, one layer, as configs/sst2.py):
  bilstm-sweep run experiments/sst2_pooling.py --backend local --workers 2 \\
      --set data.source_dir=<data>/sst/stsa.binary
  bilstm-sweep table experiments/sst2_pooling.py --set data.source_dir=<data>/sst/stsa.binary
Grids: `cpu` (the default: the config's depth) and `paper` (depths 1 and 2).
"""

from ._classification import by_pooling


def get_sweep(grid="cpu"):
  return by_pooling("configs/sst2.py", "SST-2", grid)
