"""The embedded synthetic tagging task (no download): the tag needs the tokens on both sides.

Run it:
  bilstm-train --config configs/synthetic.py --workdir runs/synthetic
  bilstm-train --config configs/synthetic.py --workdir runs/synthetic_fwd \
      --config.model.bidirectional=False
Expected on 2 CPU cores: ~30 s; test accuracy ~1.00 bidirectional, ~0.70 forward-only.
Variants: `:smoke` (a few steps).
"""

from . import common


def get_config(arg=None):
  config = common.base_config()
  config.data.name = "synthetic"
  config.data.num_buckets = 4  # lengths 4-32: few shapes keep the demo's compile time short
  options = common.parse_arg(arg)
  if options.get("smoke"):
    common.apply_smoke(config)
    config.data.train_size = 64
    config.data.val_size = 20
    config.data.test_size = 20
  config.lock()
  return config
