"""UD English-EWT UPOS: word embeddings alone vs word embeddings + a character Bi-LSTM, 3 seeds.

The character encoder is the same core run over every word's characters (configs/ud_pos.py
`:char`; Plank et al. 2016, Lample et al. 2016); with it the words are lowercased and the
characters keep their case. Run it:
  bilstm-sweep run experiments/ud_pos_chars.py --backend local --workers 2 \\
      --set data.source_dir=<data>/ud_english_ewt
  bilstm-sweep table experiments/ud_pos_chars.py --set data.source_dir=<data>/ud_english_ewt
Grids: `cpu` (the default) and `paper` (the config's full schedule, two widths).
"""

from bilstm_jax.sweeps import spec as sweep

# (data.max_word_chars, model.char_units, lowercased words with characters as written): 0 and
# 0 is word-only, which keeps case in its words. With characters, lowercasing the words
# (data.lowercase + data.chars_keep_case) gave, seed 0, dev / test 0.9482 / 0.9527 against
# 0.9448 / 0.9474 with cased words.
ENCODERS = [(0, 0, False), (16, 64, True)]
GRIDS = {
    "cpu": {"units": [128], "fixed": [("total_steps", [4000])]},
    "paper": {"units": [128, 256], "fixed": [("total_steps", [8000])]},
}


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  encoders = sweep.zipped(("data.max_word_chars", [w for w, _, _ in ENCODERS]),
                          ("model.char_units", [u for _, u, _ in ENCODERS]),
                          ("data.lowercase", [lc for _, _, lc in ENCODERS]),
                          ("data.chars_keep_case", [lc for _, _, lc in ENCODERS]))
  return sweep.Sweep(
      config="configs/ud_pos.py",
      rows=sweep.product(*g["fixed"], ("model.units", g["units"]), encoders, sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.char_units",),
                        cols=("model.units",),
                        title=f"UD English-EWT UPOS ({grid} grid): test accuracy, word-only "
                              "(char_units 0) vs word + character Bi-LSTM"),
  )
