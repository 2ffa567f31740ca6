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


def bucket_boundaries(lengths: np.ndarray, num_buckets: int, pad_multiple: int = 8) -> list[int]:
  """Bucket upper bounds at quantiles of the training lengths, rounded up to pad_multiple.

  Quantiles put about the same number of examples in each bucket, so padding stays small
  where the lengths are dense; rounding and de-duplication keep the compiled shapes few.
  """
  if num_buckets <= 0:
    raise ConfigError(f"config key data.num_buckets must be a positive integer, got {num_buckets}")
  qs = np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:], method="higher")
  bounds = sorted({round_up(max(int(q), 1), pad_multiple) for q in qs})
  return bounds


def _assign(lengths: np.ndarray, bounds: list[int], pad_multiple: int) -> tuple[np.ndarray, list[int]]:
  """Bucket index per example; lengths past the last bound get one extra bucket (eval splits)."""
  bounds = list(bounds)
  longest = int(lengths.max()) if len(lengths) else 1
  if longest > bounds[-1]:
    bounds.append(round_up(longest, pad_multiple))
  return np.searchsorted(np.asarray(bounds), lengths, side="left"), bounds


def _bucket_batch_size(bound: int, batch_size: int, token_budget: int) -> int:
  return max(1, token_budget // bound) if token_budget > 0 else batch_size


class TrainStream:
  """Training batches addressed by step: step -> (epoch, index) -> the same batch every time.

  Examples are grouped into length buckets; each epoch shuffles every bucket with a
  generator seeded by (seed, epoch), cuts it into batches (the last one per bucket partial,
  its spare rows masked, so every example is seen exactly once per epoch) and shuffles the
  batch order. The number of batches per epoch does not depend on the epoch, so the plan is
  a pure function of the step: a run resumed at step s sees exactly the batches an
  uninterrupted run sees.
  """

  def __init__(self, dataset: ArrayDataset, batch_size: int, seed: int, *, num_buckets: int = 1,
               token_budget: int = 0, pad_multiple: int = 8, row_multiple: int = 1):
    if batch_size <= 0:
      raise ConfigError(f"config key batch_size must be a positive integer, got {batch_size}")
    if len(dataset) == 0:
      raise ConfigError("the training split is empty")
    self.dataset = dataset
    self.seed = seed
    self.boundaries = bucket_boundaries(dataset.lengths, num_buckets, pad_multiple)
    self.bucket_of, self.boundaries = _assign(dataset.lengths, self.boundaries, pad_multiple)
    # Rows round up to the device count so every batch splits evenly over the devices.
    self.batch_sizes = [round_up(_bucket_batch_size(b, batch_size, token_budget), row_multiple)
                        for b in self.boundaries]
    self.members = [np.flatnonzero(self.bucket_of == b) for b in range(len(self.boundaries))]
    self.batches_per_epoch = sum(-(-len(m) // bs) for m, bs in zip(self.members, self.batch_sizes))
    self._plan_epoch = -1
    self._plan = None

  def position(self, step: int) -> tuple[int, int]:
    """(epoch, batch index within the epoch) of the batch used at training step `step`."""
    return divmod(step, self.batches_per_epoch)

  def _epoch_plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
    if epoch != self._plan_epoch:
      rng = np.random.default_rng([self.seed, epoch])
      plan = []
      for bucket, (members, size) in enumerate(zip(self.members, self.batch_sizes)):
        shuffled = rng.permutation(members)
        plan += [(bucket, shuffled[i:i + size]) for i in range(0, len(shuffled), size)]
      self._plan = [plan[i] for i in rng.permutation(len(plan))]
      self._plan_epoch = epoch
    return self._plan

  def batch(self, step: int) -> dict[str, np.ndarray]:
    epoch, index = self.position(step)
    bucket, members = self._epoch_plan(epoch)[index]
    return collate(self.dataset, members, self.batch_sizes[bucket], self.boundaries[bucket])

  def padding_fraction(self, epoch: int) -> float:
    """Share of the epoch's [B, T] cells that are padding (short rows and spare rows)."""
    cells = sum(self.batch_sizes[b] * self.boundaries[b] for b, _ in self._epoch_plan(epoch))
    return 1.0 - float(self.dataset.lengths.sum()) / cells

  def shapes(self) -> set[tuple[int, int]]:
    return {(bs, bound) for bs, bound in zip(self.batch_sizes, self.boundaries)}


def eval_batches(dataset: ArrayDataset, batch_size: int, boundaries: list[int] | None = None,
                 pad_multiple: int = 8) -> Iterator[dict[str, np.ndarray]]:
  """Every example exactly once, bucket by bucket; a bucket's last batch has mask-0 rows.

  With the training boundaries the eval shapes are the training ones (plus one bucket for
  anything longer), so evaluation compiles few shapes too.
  """
  if boundaries is None:
    boundaries = [round_up(int(dataset.lengths.max()), pad_multiple)]
  bucket_of, bounds = _assign(dataset.lengths, boundaries, pad_multiple)
  for bucket, bound in enumerate(bounds):
    members = np.flatnonzero(bucket_of == bucket)
    for start in range(0, len(members), batch_size):
      yield collate(dataset, members[start:start + batch_size], batch_size, bound)
