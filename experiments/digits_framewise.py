"""Connected spoken digits labelled frame by frame (Graves & Schmidhuber 2005): a
unidirectional LSTM with a target delay of 0, 3, 6 and 12 frames against a Bi-LSTM, at two
widths; frame error rate on test (11 classes: the digits and silence).

Run it (the data folder's fsdd/ holds the FSDD recordings):
  bilstm-sweep run experiments/digits_framewise.py --backend local --workers 2 \\
      --set data.source_dir=<data>/fsdd
  bilstm-sweep table experiments/digits_framewise.py --set data.source_dir=<data>/fsdd
Grids: `cpu` (the default: 30 runs of configs/connected_digits.py:framewise, 1,500 steps) and
`paper` (wider layers, the config's steps doubled) for a cluster.
"""

from bilstm_jax.sweeps import spec as sweep

GRIDS = {
    "cpu": {"units": [32, 96], "fixed": [("total_steps", [1500])]},
    "paper": {"units": [128, 256], "fixed": [("total_steps", [4000])]},
}
# (model.bidirectional, model.target_delay): the delays of the unidirectional net, then the
# Bi-LSTM (which needs none: its backward direction has seen the rest of the utterance).
MODELS = [(False, 0), (False, 3), (False, 6), (False, 12), (True, 0)]


def get_sweep(grid="cpu"):
  g = sweep.pick_grid(GRIDS, grid)
  models = sweep.zipped(("model.bidirectional", [b for b, _ in MODELS]),
                        ("model.target_delay", [d for _, d in MODELS]))
  return sweep.Sweep(
      config="configs/connected_digits.py:framewise",
      rows=sweep.product(*g["fixed"], ("model.units", g["units"]), models, sweep.seeds(3)),
      table=sweep.Table(metric="test/frame_error_rate",
                        rows=("model.bidirectional", "model.target_delay"),
                        cols=("model.units",),
                        title=f"Connected digits, framewise ({grid} grid): test frame error "
                              "rate, LSTM with target delay vs Bi-LSTM"),
  )
