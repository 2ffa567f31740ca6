"""TREC-6 question classification: merge mode x depth, 3 seeds (pooling: trec_pooling.py).

Run it (the local files; without source_dir, TFDS `trec`):
  bilstm-sweep run experiments/trec.py --backend local --workers 2 \\
      --set data.source_dir=<data>/trec
  bilstm-sweep table experiments/trec.py --set data.source_dir=<data>/trec
Grids: `cpu` (the default, ~30 min on 2 CPU cores) and `paper` (wider and deeper).
"""

from ._classification import merge_by_depth


def get_sweep(grid="cpu"):
  return merge_by_depth("configs/trec.py", "TREC-6", grid)
