"""TREC-6: how the sentence vector is pooled from the Bi-LSTM (final states, mean, max), 3 seeds.

Run it (concat merge, one layer, as configs/trec.py):
  bilstm-sweep run experiments/trec_pooling.py --backend local --workers 2 \\
      --set data.source_dir=../shared/data/trec
  bilstm-sweep table experiments/trec_pooling.py --set data.source_dir=../shared/data/trec
"""

from bilstm_jax import sweep


def get_sweep():
  return sweep.Sweep(
      config="configs/trec.py",
      rows=sweep.product(("model.pooling", ["final", "mean", "max"]), sweep.seeds(3)),
      table=sweep.Table(metric="test/accuracy", rows=("model.pooling",),
                        title="TREC-6: test accuracy by pooling"),
  )
