"""Datasets: `get_datasets(data_cfg)` returns the splits and what the model needs to know."""

from __future__ import annotations

import importlib

from bilstm_jax.config import ConfigError
from bilstm_jax.data import batching, synthetic  # noqa: F401 - data.batching is used through the package


def _load_text(data_cfg, workdir):
  # Imported on use: text and speech bring TensorFlow (seconds to import), synthetic does not.
  return importlib.import_module("bilstm_jax.data.text").load_text_task(data_cfg, workdir)


def _load_speech(data_cfg, workdir):
  if data_cfg.format == "connected_digits":  # frames labelled per frame or by digit string
    return importlib.import_module("bilstm_jax.data.connected_digits").load_connected_digits(
        data_cfg, workdir)
  return importlib.import_module("bilstm_jax.data.speech").load_speech_task(data_cfg, workdir)


LOADERS = {
    "synthetic": lambda data_cfg, workdir: synthetic.get_datasets(data_cfg),
    "text": _load_text,
    "speech": _load_speech,
}


def get_datasets(data_cfg, workdir: str | None = None):
  """Returns ({'train', 'val', 'test'} -> ArrayDataset, info) for `data.name`.

  `workdir`, when given, is where a task keeps what must not change across a resume (the
  vocabulary, feature statistics).
  """
  if data_cfg.name not in LOADERS:
    raise ConfigError(f"config key data.name: unknown task {data_cfg.name!r}; allowed: "
                     + ", ".join(sorted(LOADERS)))
  splits, info = LOADERS[data_cfg.name](data_cfg, workdir)
  for split, dataset in splits.items():
    if len(dataset) == 0:
      raise ConfigError(f"the {split!r} split of {data_cfg.name!r} is empty")
  return splits, info
