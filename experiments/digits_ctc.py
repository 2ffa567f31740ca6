"""Connected spoken digits with CTC (Graves, Mohamed & Hinton 2013): unidirectional LSTM vs
Bi-LSTM at depth 1, 2 and 3, greedy vs prefix beam search; label and sequence error rates.

Run it (the data folder's fsdd/ holds the FSDD recordings):
  bilstm-sweep run experiments/digits_ctc.py --backend local --workers 2 \\
      --set data.source_dir=<data>/fsdd
  bilstm-sweep table experiments/digits_ctc.py --set data.source_dir=<data>/fsdd
Grids: `cpu` (the default: 18 runs of configs/connected_digits.py, 1,500 steps) and `paper`
(wider layers, the config's steps doubled) for a cluster. Each run's final evaluation decodes
the test split greedily and with a beam of model.ctc_beam_width, so one run gives both
columns.
"""

from bilstm_jax.sweeps import spec as sweep

GRIDS = {
    # 1,500 steps (6 epochs): the config's 2-layer Bi-LSTM had its best dev LER at step 1,250
    # of 2,000 (test LER 0.0056, greedy and beam alike).
    "cpu": {"units": [96], "fixed": [("total_steps", [1500])]},
    "paper": {"units": [256], "fixed": [("total_steps", [4000])]},
}
METRICS = ("test/label_error_rate", "test/label_error_rate_beam", "test/sequence_error_rate",
           "test/sequence_error_rate_beam")


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  return sweep.Sweep(
      config="configs/connected_digits.py:ctc",
      rows=sweep.product(*g["fixed"], ("model.units", g["units"]),
                         ("model.num_layers", [1, 2, 3]), ("model.bidirectional", [False, True]),
                         sweep.seeds(3)),
      table=sweep.Table(metrics=METRICS, rows=("model.num_layers", "model.bidirectional"),
                        cols=(sweep.METRIC_KEY,),
                        title=f"Connected digits, CTC ({grid} grid): test label and sequence "
                              "error rates, greedy and beam search"),
  )
