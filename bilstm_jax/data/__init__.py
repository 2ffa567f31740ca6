"""Datasets: `get_datasets(data_cfg)` returns the splits and what the model needs to know."""

from __future__ import annotations

from bilstm_jax.config_loading import ConfigError
from bilstm_jax.data import synthetic

LOADERS = {"synthetic": synthetic.get_datasets}


def get_datasets(data_cfg):
  """Returns ({'train', 'val', 'test'} -> ArrayDataset, info) for `data.name`."""
  if data_cfg.name not in LOADERS:
    raise ConfigError(f"config key data.name: unknown task {data_cfg.name!r}; allowed: "
                     + ", ".join(sorted(LOADERS)))
  splits, info = LOADERS[data_cfg.name](data_cfg)
  for split, dataset in splits.items():
    if len(dataset) == 0:
      raise ConfigError(f"the {split!r} split of {data_cfg.name!r} is empty")
  return splits, info
