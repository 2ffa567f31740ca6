"""SST-2: how the sentence vector is pooled from the Bi-LSTM (final states, mean, max), 3 seeds.

Run it (concat merge, one layer, as configs/sst2.py):
  bilstm-sweep run experiments/sst2_pooling.py --backend local --workers 2 \\
      --set data.source_dir=../shared/data/sst/stsa.binary
  bilstm-sweep table experiments/sst2_pooling.py --set data.source_dir=../shared/data/sst/stsa.binary
"""

from bilstm_jax import sweep


def get_sweep():
  return sweep.Sweep(
      config="configs/sst2.py",
      rows=sweep.product(("model.pooling", ["final", "mean", "max"]), sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.pooling",),
                        title="SST-2: test accuracy by pooling"),
  )
