"""SST-2 sentence-level sentiment (stsa.binary: Kim 2014 splits): merge mode x depth, 3 seeds (pooling: sst2_pooling.py).

Run it (the local files; without source_dir, TFDS `glue/sst2`, phrase-level):
  bilstm-sweep run experiments/sst2.py --backend local --workers 2 \\
      --set data.source_dir=<data>/sst/stsa.binary
  bilstm-sweep table experiments/sst2.py --set data.source_dir=<data>/sst/stsa.binary
Grids: `cpu` (the default, ~40 min on 2 CPU cores) and `paper` (wider and deeper).
"""

from ._classification import merge_by_depth


def get_sweep(grid="cpu"):
  return merge_by_depth("configs/sst2.py", "SST-2", grid)
