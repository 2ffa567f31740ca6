"""`bilstm-prepare`: prepares a config's data once, so training runs read it without TensorFlow.

  bilstm-prepare --config configs/ud_pos.py --config.data.source_dir=<data>/ud_english_ewt \\
      [--config.data.cache_dir=/shared/cache]

Takes the same --config flags as `bilstm-train` (no --workdir). It writes the TFDS array_record
copy of a local folder (or downloads and prepares a TFDS catalog dataset) and computes the
speech features, under data.cache_dir (and data.tfds_data_dir for catalog datasets). Run it on a
machine with the `[prepare]` extra (TensorFlow); every training run with the same data keys then
reads the prepared files, on any node that sees that cache, without importing TensorFlow.
Preparing twice is safe: what exists is read, not rewritten.
"""

import sys
import time

from absl import app, flags, logging

from bilstm_jax import config as config_lib

_CONFIG = config_lib.define_config_flag(
    "config", "Task config file, e.g. configs/ud_pos.py[:variant]")
flags.mark_flags_as_required(["config"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  from bilstm_jax import data  # pylint: disable=import-outside-toplevel (after flag parsing)
  from bilstm_jax.data import prepared  # pylint: disable=import-outside-toplevel

  data_cfg = _CONFIG.value.data
  start = time.time()
  try:
    splits, info = data.get_datasets(data_cfg, workdir=None)
  except prepared.NotPrepared as err:
    sys.exit(f"bilstm-prepare: error: {err}. TensorFlow is needed here: "
             f"{prepared.PREPARE_EXTRA}")
  except config_lib.ConfigError as err:
    sys.exit(f"bilstm-prepare: error: {err}")
  sizes = ", ".join(f"{split} {len(dataset)}" for split, dataset in splits.items())
  print(f"prepared data.name={data_cfg.name} ({info['task']}): {sizes} examples, "
        f"{time.time() - start:.1f}s; training reads it without TensorFlow "
        f"(data.cache_dir={data_cfg.cache_dir or '~/.cache/bilstm_jax'})", flush=True)


def run():
  config_lib.check_command_line(sys.argv, "bilstm-prepare")
  app.run(main)


if __name__ == "__main__":
  run()
