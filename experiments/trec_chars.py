"""TREC-6: word embeddings alone vs words + a character Bi-LSTM over each word, 3 seeds.

The questions stay lowercased for the word embeddings; the characters are lowercased too, or
keep their case (data.chars_keep_case), which marks names and places. Run it:
  bilstm-sweep run experiments/trec_chars.py --backend local --workers 2 \\
      --set data.source_dir=<data>/trec
  bilstm-sweep table experiments/trec_chars.py --set data.source_dir=<data>/trec
Grids: `cpu` (the default: 128 units, 3 seeds, ~15 min on 2 CPU cores) and `paper` (128 and
256 units).
"""

from ._classification import by_encoder


def get_sweep(grid="cpu"):
  return by_encoder("configs/trec.py", "TREC-6", grid)
