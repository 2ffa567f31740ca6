"""Batches: the common numpy batch dict, epoch plans that are a pure function of (seed, epoch)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from bilstm_jax.config import ConfigError


@dataclasses.dataclass
class ArrayDataset:
  """Examples held in memory: variable-length inputs and per-example or per-token labels.

  label_steps > 0 marks transcription targets: each label is a sequence of any length up to
  label_steps (a digit string, not aligned with the frames), batched as labels [B, label_steps]
  (0 beyond each length) with label_lengths [B], the same shape in every batch."""
  inputs: Sequence[np.ndarray]  # each [T_i] int32 tokens or [T_i, F] float32 frames
  labels: Sequence[np.ndarray] | np.ndarray  # [N] class ids, each [T_i] tag ids, or each [L_i]
  label_steps: int = 0

  def __post_init__(self):
    if len(self.inputs) != len(self.labels):
      raise ValueError(f"{len(self.inputs)} inputs but {len(self.labels)} labels")
    self.lengths = np.array([len(x) for x in self.inputs], np.int32)
    if self.label_steps:
      self.label_lengths = np.array([len(y) for y in self.labels], np.int32)
      if len(self) and self.label_lengths.max() > self.label_steps:
        raise ValueError(f"a label sequence of {self.label_lengths.max()} steps is longer "
                         f"than label_steps={self.label_steps}")

  def __len__(self) -> int:
    return len(self.inputs)

  @property
  def is_tagging(self) -> bool:
    """One label per input step (not a transcription's shorter label sequence)."""
    return (not self.label_steps and not np.isscalar(self.labels[0])
            and np.ndim(self.labels[0]) == 1)


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
  extra = {}
  if dataset.label_steps:
    labels = np.zeros((batch_size, dataset.label_steps), np.int32)
    extra["label_lengths"] = np.zeros(batch_size, np.int32)
  elif dataset.is_tagging:
    labels = np.zeros((batch_size, num_steps), np.int32)
  else:
    labels = np.zeros(batch_size, np.int32)
  for row, i in enumerate(index):
    n = len(dataset.inputs[i])
    inputs[row, :n] = dataset.inputs[i]
    lengths[row] = n
    if dataset.label_steps:
      m = len(dataset.labels[i])
      labels[row, :m] = dataset.labels[i]
      extra["label_lengths"][row] = m
    elif dataset.is_tagging:
      labels[row, :n] = dataset.labels[i]
    else:
      labels[row] = dataset.labels[i]
  mask = (np.arange(batch_size) < len(index)).astype(np.float32)
  return {"inputs": inputs, "lengths": lengths, "labels": labels, "mask": mask, **extra}


def bucket_boundaries(lengths: np.ndarray, num_buckets: int, pad_multiple: int = 1,
                      max_candidates: int = 512) -> list[int]:
  """At most `num_buckets` bucket upper bounds that minimise the padding of the training set.

  Batches are cut from length-sorted pools, so a batch's padding is mostly its rounding up to
  a bucket bound; the bounds are chosen by dynamic programming over the distinct lengths
  (rounded to pad_multiple) to minimise the total sum of (bound - length). Quantile bounds
  waste a lot on long-tailed lengths (a 31-token sentence padded to 122).
  """
  if num_buckets <= 0:
    raise ConfigError(f"config key data.num_buckets must be a positive integer, got {num_buckets}")
  rounded = np.array([round_up(max(int(n), 1), pad_multiple) for n in lengths])
  values, counts = np.unique(rounded, return_counts=True)
  if len(values) > max_candidates:  # keep the DP small: candidate bounds at quantiles
    keep = np.unique(np.quantile(np.arange(len(values)), np.linspace(0, 1, max_candidates),
                                 method="nearest").astype(int))
    keep = np.union1d(keep, [len(values) - 1])
  else:
    keep = np.arange(len(values))
  # cost[i, j]: padding of the examples with value in (values[keep[i]], values[keep[j]]]
  # when they are all padded to values[keep[j]]; prefix sums make it O(1) per pair.
  cum_n = np.concatenate([[0], np.cumsum(counts)])
  cum_len = np.concatenate([[0], np.cumsum(counts * values)])
  ends = keep + 1  # prefix index just past each candidate
  bound = values[keep].astype(np.float64)

  def cost(first_prefix, j):
    n = cum_n[ends[j]] - cum_n[first_prefix]
    return bound[j] * n - (cum_len[ends[j]] - cum_len[first_prefix])

  m = len(keep)
  # pad_from[i, j]: the bucket (bound i, bound j] padded to bound j (inf unless i < j).
  pad_from = np.full((m, m), np.inf)
  for i in range(m):
    for j in range(i + 1, m):
      pad_from[i, j] = cost(ends[i], j)
  # dp[j]: least padding of all lengths <= bound j with bucket bounds ending at j.
  dp = np.array([cost(0, j) for j in range(m)])
  levels = [dp]
  back = []
  for _ in range(1, min(num_buckets, m)):
    totals = levels[-1][:, None] + pad_from
    back.append(np.argmin(totals, axis=0))
    levels.append(totals[back[-1], np.arange(m)])
  level = int(np.argmin([lv[m - 1] for lv in levels]))  # fewer buckets if more do not help
  bounds, j = [], m - 1
  while True:
    bounds.append(int(values[keep[j]]))
    if level == 0:
      break
    j = int(back[level - 1][j])
    level -= 1
  return sorted(bounds)


def _assign(lengths: np.ndarray, bounds: list[int], pad_multiple: int) -> tuple[np.ndarray, list[int]]:
  """Bucket index per example; lengths past the last bound get one extra bucket (eval splits)."""
  bounds = list(bounds)
  longest = int(lengths.max()) if len(lengths) else 1
  if longest > bounds[-1]:
    bounds.append(round_up(longest, pad_multiple))
  return np.searchsorted(np.asarray(bounds), lengths, side="left"), bounds


def _bucket_batch_size(bound: int, batch_size: int, token_budget: int) -> int:
  return max(1, token_budget // bound) if token_budget > 0 else batch_size


def _cut_sorted(members: np.ndarray, bucket_of: np.ndarray, sizes: list[int]) -> list[tuple[int, np.ndarray]]:
  """Cuts length-sorted examples into batches, each padded to the bucket of its longest member.

  Greedy: a batch grows while its row count fits the batch size of the bucket its longest
  example falls in (with a token budget, longer buckets take fewer rows).
  """
  batches, start = [], 0
  while start < len(members):
    end = start + 1
    while end < len(members) and end - start < sizes[bucket_of[members[end]]]:
      end += 1
    batches.append((int(bucket_of[members[end - 1]]), members[start:end]))
    start = end
  return batches


class TrainStream:
  """Training batches addressed by step: step -> (epoch, index) -> the same batch every time.

  Each epoch shuffles the training set with a generator seeded by (seed, epoch), splits it
  into pools of `pool_batches` batches, sorts every pool by length and cuts it into batches,
  so the examples in a batch have nearly equal lengths; a batch is padded to the smallest
  bucket boundary that holds its longest example, which bounds the compiled shapes. The batch
  order is shuffled again. Every example is seen exactly once per epoch (a pool's last batch
  may be partial; its spare rows are masked). The plan is a pure function of (seed, epoch),
  so a run resumed at step s sees exactly the batches an uninterrupted run sees.
  """

  def __init__(self, dataset: ArrayDataset, batch_size: int, seed: int, *, num_buckets: int = 1,
               token_budget: int = 0, pad_multiple: int = 1, row_multiple: int = 1,
               pool_batches: int = 256):
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
    if pool_batches <= 0:
      raise ConfigError(f"config key data.pool_batches must be a positive integer, got "
                        f"{pool_batches}")
    self.pool_size = pool_batches * batch_size
    self._epoch_ends = []  # cumulative batch counts: epochs may differ in batch count
    self._plans = {}

  def _epoch_plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
    if epoch not in self._plans:
      rng = np.random.default_rng([self.seed, epoch])
      order = rng.permutation(len(self.dataset))
      plan = []
      for start in range(0, len(order), self.pool_size):
        pool = order[start:start + self.pool_size]
        pool = pool[np.argsort(self.dataset.lengths[pool], kind="stable")]
        plan += _cut_sorted(pool, self.bucket_of, self.batch_sizes)
      if len(self._plans) > 4:
        self._plans.pop(min(self._plans))
      self._plans[epoch] = [plan[i] for i in rng.permutation(len(plan))]
    return self._plans[epoch]

  def position(self, step: int) -> tuple[int, int]:
    """(epoch, batch index within the epoch) of the batch used at training step `step`."""
    while not self._epoch_ends or self._epoch_ends[-1] <= step:
      count = len(self._epoch_plan(len(self._epoch_ends)))
      self._epoch_ends.append(count + (self._epoch_ends[-1] if self._epoch_ends else 0))
    epoch = int(np.searchsorted(self._epoch_ends, step, side="right"))
    return epoch, step - (self._epoch_ends[epoch - 1] if epoch else 0)

  def epoch_steps(self, epoch: int) -> range:
    """The training steps that make up `epoch`."""
    self.position(sum(len(self._epoch_plan(e)) for e in range(epoch + 1)) - 1)
    start = self._epoch_ends[epoch - 1] if epoch else 0
    return range(start, self._epoch_ends[epoch])

  def fractional_epoch(self, step: int) -> float:
    epoch, index = self.position(step)
    return epoch + index / len(self._epoch_plan(epoch))

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
                 pad_multiple: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Every example exactly once, in length order, each batch padded to its bucket boundary.

  Batches always have `batch_size` rows (the last one's spare rows masked), and with the
  training boundaries the shapes are the training ones (plus one bucket for anything longer).
  """
  for _, batch in indexed_eval_batches(dataset, batch_size, boundaries, pad_multiple):
    yield batch


def indexed_eval_batches(dataset: ArrayDataset, batch_size: int,
                         boundaries: list[int] | None = None, pad_multiple: int = 1
                         ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
  """eval_batches with each batch's example indices (its first rows; the rest are padding)."""
  if boundaries is None:
    boundaries = [round_up(int(dataset.lengths.max()), pad_multiple)]
  bucket_of, bounds = _assign(dataset.lengths, boundaries, pad_multiple)
  order = np.argsort(dataset.lengths, kind="stable")
  for start in range(0, len(order), batch_size):
    members = order[start:start + batch_size]
    yield members, collate(dataset, members, batch_size, bounds[bucket_of[members[-1]]])
