"""Batches: the common numpy batch dict, epoch plans that are a pure function of (seed, epoch)."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from bilstm_jax.config_loading import ConfigError


@dataclasses.dataclass
class ArrayDataset:
  """Examples held in memory: variable-length inputs and per-example or per-token labels."""
  inputs: Sequence[np.ndarray]  # each [T_i] int32 tokens or [T_i, F] float32 frames
  labels: Sequence[np.ndarray] | np.ndarray  # [N] class ids, or each [T_i] tag ids

  def __post_init__(self):
    if len(self.inputs) != len(self.labels):
      raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")
    self.lengths = np.array([len(x) for x in self.inputs], np.int32)

  def __len__(self) -> int:
    return len(self.inputs)

  @property
  def is_tagging(self) -> bool:
    return not np.isscalar(self.labels[0]) and np.ndim(self.labels[0]) == 1


def round_up(value: int, multiple: int) -> int:
  return -(-value // multiple) * multiple


def collate(dataset: ArrayDataset, index: np.ndarray, batch_size: int,
            num_steps: int) -> dict[str, np.ndarray]:
  """Pads the examples `index` into a batch of exactly `batch_size` rows and `num_steps` steps.

  Rows beyond len(index) are padding rows with mask 0, so a partial last eval batch keeps
  the compiled shape and still counts every real example exactly once.
  """
  first = dataset.inputs[0]
  inputs = np.zeros((batch_size, num_steps) + first.shape[1:], first.dtype)
  lengths = np.zeros(batch_size, np.int32)
  if dataset.is_tagging:
    labels = np.zeros((batch_size, num_steps), np.int32)
  else:
    labels = np.zeros(batch_size, np.int32)
  for row, i in enumerate(index):
    n = len(dataset.inputs[i])
    inputs[row, :n] = dataset.inputs[i]
    lengths[row] = n
    if dataset.is_tagging:
      labels[row, :n] = dataset.labels[i]
    else:
      labels[row] = dataset.labels[i]
  mask = (np.arange(batch_size) < len(index)).astype(np.float32)
  return {"inputs": inputs, "lengths": lengths, "labels": labels, "mask": mask}


class TrainStream:
  """Training batches addressed by step: step -> (epoch, index) -> the same batch every time.

  Each epoch is a fresh permutation seeded by (seed, epoch) cut into full batches; because the
  plan is a pure function of the step, a run resumed from a checkpoint at step s sees exactly
  the batches an uninterrupted run sees, with nothing skipped or repeated.
  """

  def __init__(self, dataset: ArrayDataset, batch_size: int, seed: int, pad_multiple: int = 8):
    if batch_size <= 0:
      raise ConfigError(f"config key batch_size must be a positive integer, got {batch_size}")
    if len(dataset) < batch_size:
      raise ConfigError(f"the training split has {len(dataset)} examples, fewer than one batch "
                       f"of batch_size={batch_size}")
    self.dataset = dataset
    self.batch_size = batch_size
    self.seed = seed
    self.num_steps = round_up(int(dataset.lengths.max()), pad_multiple)
    self.batches_per_epoch = len(dataset) // batch_size
    self._plan_epoch = -1
    self._plan = None

  def position(self, step: int) -> tuple[int, int]:
    """(epoch, batch index within the epoch) of the batch used at training step `step`."""
    return divmod(step, self.batches_per_epoch)

  def _epoch_plan(self, epoch: int) -> np.ndarray:
    if epoch != self._plan_epoch:
      order = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset))
      self._plan = order[:self.batches_per_epoch * self.batch_size].reshape(
          self.batches_per_epoch, self.batch_size)
      self._plan_epoch = epoch
    return self._plan

  def batch(self, step: int) -> dict[str, np.ndarray]:
    epoch, index = self.position(step)
    return collate(self.dataset, self._epoch_plan(epoch)[index], self.batch_size,
                   self.num_steps)


def eval_batches(dataset: ArrayDataset, batch_size: int,
                 pad_multiple: int = 8) -> Iterator[dict[str, np.ndarray]]:
  """Every example exactly once, in order; the last batch is filled with mask-0 padding rows."""
  num_steps = round_up(int(dataset.lengths.max()), pad_multiple)
  for start in range(0, len(dataset), batch_size):
    index = np.arange(start, min(start + batch_size, len(dataset)))
    yield collate(dataset, index, batch_size, num_steps)
