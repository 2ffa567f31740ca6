"""TREC-6 recipe search: configs/trec.py, its 64-unit variant and 62 seeded random draws, 3 seeds.

Each row is configs/trec.py plus one draw's dotted overrides and a seed (192 runs, ~1-2 min
each on 2 CPU cores, ~1 min on a GPU). Run it (the local files; without source_dir, TFDS `trec`):
  bilstm-sweep run experiments/trec_search.py --backend local --workers 2 \\
      --set data.source_dir=<data>/trec          (or --backend slurm --gpus 1)
  bilstm-sweep table experiments/trec_search.py --set data.source_dir=<data>/trec
On a GPU, JAX_DEFAULT_MATMUL_PRECISION=highest keeps float32 matmuls in float32 (not TF32), as
the committed runs had. The table lists the draws best dev accuracy first, with their test
accuracy; results/trec_search.about.md says how the committed results were made.
"""

import random

from bilstm_jax.sweeps import spec as sweep

CONFIG = "configs/trec.py"
NUM_CONFIGS = 64
# Repeated values are drawn more often. The draw is seeded: the same 64 configs every time.
SPACE = {
    "model.units": [32, 64, 128, 256],
    "model.embed_dim": [100, 200, 300],
    "model.input_dropout": [0.25, 0.4, 0.5, 0.6],
    "model.output_dropout": [0.3, 0.5, 0.6],
    "model.pooling": ["mean", "mean", "max", "mean_max", "attention"],
    "optim.learning_rate": [1e-3, 2e-3, 3e-3],
    "total_steps": [1500, 3000],
    "optim.label_smoothing": [0.0, 0.1],
    "optim.weight_decay": [1e-4, 1e-2],
    "data.min_count": [1, 1, 2],
    "data.word_dropout_alpha": [0.0, 0.0, 0.25],
    "model.num_layers": [1, 1, 2],
}
# Set only with two layers (dropout between them); a one-layer row leaves it at the config's.
DEPTH_DROPOUT = ("model.dropout", 0.3)


def configs() -> list[dict]:
  """The config itself, its 64-unit variant (the best CPU probe), then seeded random draws."""
  rng = random.Random(2026)
  out = [{}, {"model.units": 64}]
  while len(out) < NUM_CONFIGS:
    draw = {key: rng.choice(values) for key, values in SPACE.items()}
    if draw["model.num_layers"] == 2:
      draw[DEPTH_DROPOUT[0]] = DEPTH_DROPOUT[1]
    if draw not in out:
      out.append(draw)
  return out


def get_sweep():
  return sweep.Sweep(
      config=CONFIG,
      rows=sweep.product(configs(), sweep.seeds(3)),
      # One table row per draw, labelled by every key the search sets (– where a draw leaves
      # the config's value), picked by dev accuracy: the test column is only read.
      table=sweep.Table(metric="test/accuracy", rows=(*SPACE, DEPTH_DROPOUT[0]),
                        sort_by="val/accuracy",
                        title="TREC-6: a random recipe search around configs/trec.py (–: the "
                              "config's value), best dev accuracy first"),
  )
