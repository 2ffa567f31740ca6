"""Length bucketing: each example once per epoch, few shapes, less padding, exact eval coverage."""

import numpy as np
import pytest

from bilstm_jax.data import batching


def _dataset(n=500, tagging=False, seed=0):
  rng = np.random.default_rng(seed)
  # A long-tailed length distribution, like sentences.
  lengths = np.minimum(1 + rng.geometric(0.06, size=n), 120)
  inputs = [rng.integers(2, 50, size=k).astype(np.int32) for k in lengths]
  labels = ([rng.integers(0, 3, size=k).astype(np.int32) for k in lengths] if tagging
            else rng.integers(0, 3, size=n).astype(np.int32))
  return batching.ArrayDataset(inputs, labels)


def _ids(batch):
  """Example identity: its whole valid token sequence (random tokens make it unique)."""
  return [tuple(batch["inputs"][r, :batch["lengths"][r]].tolist())
          for r in np.flatnonzero(batch["mask"])]


def _all_ids(ds):
  return sorted(tuple(x.tolist()) for x in ds.inputs)


@pytest.mark.parametrize("token_budget", [0, 1024])
def test_every_example_once_per_epoch_with_bounded_shapes(token_budget):
  ds = _dataset()
  stream = batching.TrainStream(ds, 32, seed=3, num_buckets=6, token_budget=token_budget)
  expected = _all_ids(ds)
  for epoch in range(2):
    seen, shapes = [], set()
    for step in stream.epoch_steps(epoch):
      batch = stream.batch(step)
      shapes.add(batch["inputs"].shape)
      assert np.all(batch["lengths"] <= batch["inputs"].shape[1])
      seen += _ids(batch)
    assert sorted(seen) == expected
    assert shapes <= stream.shapes() and len(shapes) <= 7
    assert stream.epoch_steps(epoch).stop - stream.epoch_steps(epoch).start == len(
        stream.epoch_steps(epoch))
  if token_budget:
    assert all(bs * bound <= token_budget or bs == 1
               for bs, bound in stream.shapes())


def test_bucketing_pads_less_than_the_global_max():
  ds = _dataset()
  bucketed = batching.TrainStream(ds, 32, seed=0, num_buckets=8)
  single = batching.TrainStream(ds, 32, seed=0, num_buckets=1)
  assert bucketed.padding_fraction(0) < single.padding_fraction(0)
  assert single.shapes() == {(32, int(ds.lengths.max()))}


def test_plan_is_a_pure_function_of_the_step():
  ds = _dataset(tagging=True)
  a = batching.TrainStream(ds, 16, seed=5, num_buckets=4)
  b = batching.TrainStream(ds, 16, seed=5, num_buckets=4)
  for step in [0, 7, a.epoch_steps(1).start + 3, a.epoch_steps(2).stop - 1, 2]:
    x, y = a.batch(step), b.batch(step)
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  other = batching.TrainStream(ds, 16, seed=6, num_buckets=4)
  assert not np.array_equal(other.batch(0)["inputs"], a.batch(0)["inputs"])


def test_row_multiple_rounds_batches_up():
  stream = batching.TrainStream(_dataset(), 30, seed=0, num_buckets=3, row_multiple=4)
  assert all(bs % 4 == 0 for bs, _ in stream.shapes())


@pytest.mark.parametrize("tagging", [False, True])
def test_eval_batches_cover_each_example_once(tagging):
  ds = _dataset(n=103, tagging=tagging, seed=1)
  bounds = batching.bucket_boundaries(ds.lengths[:50], 3)  # train bounds shorter than eval
  batches = list(batching.eval_batches(ds, 16, bounds))
  seen = [x for b in batches for x in _ids(b)]
  assert sorted(seen) == _all_ids(ds)
  assert all(b["inputs"].shape[0] == 16 for b in batches)
  for b in batches:
    for r in np.flatnonzero(b["mask"] == 0):
      assert b["lengths"][r] == 0 and not b["inputs"][r].any()


def test_bad_bucketing_config():
  with pytest.raises(ValueError, match="data.num_buckets must be a positive integer"):
    batching.TrainStream(_dataset(), 8, seed=0, num_buckets=0)
  with pytest.raises(ValueError, match="config key batch_size must be a positive integer"):
    batching.TrainStream(_dataset(), 0, seed=0)


def _bucket_padding(lengths, bounds):
  idx = np.searchsorted(np.asarray(bounds), lengths)
  return int(np.sum(np.asarray(bounds)[idx] - lengths))


@pytest.mark.parametrize("num_buckets", [1, 3, 8])
def test_bounds_minimise_padding(num_buckets):
  lengths = _dataset(n=2000).lengths
  bounds = batching.bucket_boundaries(lengths, num_buckets)
  assert bounds == sorted(bounds) and len(bounds) <= num_buckets
  assert bounds[-1] == lengths.max()
  quantile = sorted({int(q) for q in np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:],
                                                 method="higher")})
  assert _bucket_padding(lengths, bounds) <= _bucket_padding(lengths, quantile)
  # Brute force on a small case: no other pair of bounds pads less.
  small = np.array([1, 1, 2, 3, 3, 3, 7, 8, 9, 9])
  best = batching.bucket_boundaries(small, 2)
  candidates = [[a, 9] for a in range(1, 9)]
  assert _bucket_padding(small, best) == min(_bucket_padding(small, c) for c in candidates)
