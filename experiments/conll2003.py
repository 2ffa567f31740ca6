"""CoNLL-2003 English NER, the BiLSTM-CRF table of Huang et al. 2015 and Lample et al. 2016:
LSTM, BI-LSTM, LSTM-CRF and BI-LSTM-CRF, each word-only and with a character Bi-LSTM per word,
3 seeds, random initialisation (no pretrained vectors); entity F1 on test (conlleval).

Run it (the data folder's conll2003/ holds train.txt, dev.txt, test.txt):
  bilstm-sweep run experiments/conll2003.py --backend local --workers 2 \\
      --set data.source_dir=<data>/conll2003
  bilstm-sweep table experiments/conll2003.py --set data.source_dir=<data>/conll2003
Grids: `cpu` (the default; 24 runs of the config's 4,000 steps, about 9 epochs: 5-10 min each
on 2 CPU cores, ~3 hours with 2 workers) and `paper` (two widths, 12,000 steps) for a cluster.
Every other setting is configs/conll_ner.py's.
"""

from bilstm_jax.sweeps import spec as sweep

# (data.max_word_chars, model.char_units, data.lowercase): word-only with the words as written
# (case is a strong cue for names), or lowercased words + a character Bi-LSTM that spells each
# word as written (the config's encoder).
ENCODERS = [(0, 0, False), (20, 50, True)]
GRIDS = {
    "cpu": {"units": [200], "fixed": []},
    "paper": {"units": [200, 300], "fixed": [("total_steps", [12000])]},
}


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  encoders = sweep.zipped(("data.max_word_chars", [w for w, _, _ in ENCODERS]),
                          ("model.char_units", [u for _, u, _ in ENCODERS]),
                          ("data.lowercase", [lc for _, _, lc in ENCODERS]))
  return sweep.Sweep(
      config="configs/conll_ner.py",
      rows=sweep.product(*g["fixed"], ("model.units", g["units"]),
                         ("model.bidirectional", [False, True]),
                         ("model.head", ["softmax", "crf"]), encoders, sweep.seeds(3)),
      table=sweep.Table(metric="test/span_f1", rows=("model.bidirectional", "model.head"),
                        cols=("model.char_units",),
                        title=f"CoNLL-2003 NER ({grid} grid): test entity F1, word-only "
                              "(char_units 0) vs words + a character Bi-LSTM"),
  )
