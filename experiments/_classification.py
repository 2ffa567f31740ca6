"""The sentence-classification sweeps every such task gets (trec*.py and sst2*.py use them).

Not a sweep file itself (the leading underscore): the sweep files beside it import it.
"""

from bilstm_jax import MERGE_MODES, models
from bilstm_jax.sweeps import spec as sweep

# Merge mode x depth. cpu: 24 runs, ~25-35 min on 2 CPU cores; paper: wider and deeper. The
# 'none' rows are the concat model (every head concatenates the pair): shown, never run.
MERGE_GRIDS = {
    "cpu": {"layers": [1, 2], "units": [128], "seeds": 3},
    "paper": {"layers": [1, 2, 3], "units": [128, 256], "seeds": 3},
}
POOLINGS = list(models.POOLINGS)
# Pooling at the config's merge mode: cpu at its depth (15 runs); paper at depths 1 and 2.
POOLING_GRIDS = {"cpu": {"layers": None}, "paper": {"layers": [1, 2]}}


def merge_by_depth(config: str, task: str, grid: str) -> sweep.Sweep:
  """Rows merge mode x depth (x units), seeds innermost; one column per (units, depth)."""
  g = sweep.pick_grid(MERGE_GRIDS, grid)
  return sweep.Sweep(
      config=config,
      rows=sweep.product(("model.units", g["units"]), ("model.merge", list(MERGE_MODES)),
                         ("model.num_layers", g["layers"]), sweep.seeds(g["seeds"])),
      table=sweep.Table(metric="test/accuracy", rows=("model.merge",),
                        cols=("model.units", "model.num_layers"),
                        title=f"{task} ({grid} grid): test accuracy"),
  )


def by_pooling(config: str, task: str, grid: str) -> sweep.Sweep:
  """One row per pooling of the Bi-LSTM outputs in POOLINGS, 3 seeds."""
  layers = sweep.pick_grid(POOLING_GRIDS, grid)["layers"]
  depth = [("model.num_layers", layers)] if layers else []
  return sweep.Sweep(
      config=config,
      rows=sweep.product(*depth, ("model.pooling", POOLINGS), sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.pooling",),
                        cols=("model.num_layers",) if layers else (),
                        title=f"{task}: test accuracy by pooling"
                              + ("" if grid == "cpu" else f" ({grid} grid)")),
  )


# Word-only vs words + a character Bi-LSTM over each word, lowercased like the words or as
# written (the config's words stay lowercased): (data.max_word_chars, model.char_units,
# data.chars_keep_case).
ENCODERS = [(0, 0, False), (16, 64, False), (16, 64, True)]
ENCODER_GRIDS = {"cpu": {"units": [128]}, "paper": {"units": [128, 256]}}


def by_encoder(config: str, task: str, grid: str) -> sweep.Sweep:
  """Rows word-only / words + lowercased characters / words + characters as written, at the
  config's merge, depth and pooling."""
  g = sweep.pick_grid(ENCODER_GRIDS, grid)
  encoders = sweep.zipped(("data.max_word_chars", [w for w, _, _ in ENCODERS]),
                          ("model.char_units", [u for _, u, _ in ENCODERS]),
                          ("data.chars_keep_case", [k for _, _, k in ENCODERS]))
  return sweep.Sweep(
      config=config,
      rows=sweep.product(("model.units", g["units"]), encoders, sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.char_units", "data.chars_keep_case"),
                        cols=("model.units",),
                        title=f"{task}: test accuracy, word-only (char_units 0) vs words + a "
                              "character Bi-LSTM, lowercased or as written (chars_keep_case)"
                              + ("" if grid == "cpu" else f" ({grid} grid)")),
  )
