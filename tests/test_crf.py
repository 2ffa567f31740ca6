"""The linear-chain CRF against brute-force enumeration of all paths in float64, padding, grads."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import bilstm_jax
from bilstm_jax.core import crf

BIO_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def _random_problem(seed, batch, num_steps, num_tags, junk=1e6, lengths=None):
  """float64 scores, lengths (by default covering 0, 1 and T) and junk past each length."""
  rng = np.random.default_rng(seed)
  emissions = rng.normal(size=(batch, num_steps, num_tags))
  if lengths is None:
    lengths = rng.integers(0, num_steps + 1, size=batch)
    lengths[:3] = [0, 1, num_steps]
  lengths = np.asarray(lengths)
  tags = rng.integers(0, num_tags, size=(batch, num_steps))
  for b, n in enumerate(lengths):
    emissions[b, n:] = junk * rng.choice([-1.0, 1.0], size=(num_steps - n, num_tags))
    tags[b, n:] = rng.choice([-7, num_tags, 10**6], size=num_steps - n)
  params = {"transitions": rng.normal(size=(num_tags, num_tags)),
            "start": rng.normal(size=num_tags), "end": rng.normal(size=num_tags)}
  return emissions, tags, lengths, params


def _path_score(emissions_TxK, path, transitions, start, end):
  steps = range(1, len(path))
  return (start[path[0]] + sum(emissions_TxK[t, y] for t, y in enumerate(path))
          + sum(transitions[path[t - 1], path[t]] for t in steps) + end[path[-1]])


def _path_allowed(path, allowed, start_allowed, end_allowed):
  steps = range(1, len(path))
  return (start_allowed[path[0]] and end_allowed[path[-1]]
          and all(allowed[path[t - 1], path[t]] for t in steps))


def _brute_force(emissions_TxK, length, params, constraints=None):
  """(all allowed paths, their scores) for one sequence, by enumeration in float64."""
  num_tags = emissions_TxK.shape[1]
  paths = [p for p in itertools.product(range(num_tags), repeat=length)
           if constraints is None or _path_allowed(p, *constraints)]
  scores = np.array([_path_score(emissions_TxK, p, **params) for p in paths])
  return paths, scores


def _logsumexp(scores):
  top = scores.max()
  return top + np.log(np.exp(scores - top).sum())


def _random_constraints(seed, num_tags):
  """A random mask that still leaves paths of every length (the diagonal is always allowed)."""
  rng = np.random.default_rng(seed)
  allowed = rng.random((num_tags, num_tags)) < 0.5
  np.fill_diagonal(allowed, True)
  start_allowed, end_allowed = rng.random(num_tags) < 0.5, rng.random(num_tags) < 0.5
  start_allowed[0] = end_allowed[0] = True
  return allowed, start_allowed, end_allowed


SHAPES = [(2, 1), (2, 5), (3, 3), (3, 4), (4, 3)]  # (K, T)


@pytest.mark.parametrize("num_tags, num_steps", SHAPES)
@pytest.mark.parametrize("constrained", [False, True])
def test_log_likelihood_matches_brute_force(x64, num_tags, num_steps, constrained):
  emissions, tags, lengths, params = _random_problem(num_tags * 10 + num_steps, 6, num_steps,
                                                     num_tags)
  constraints = _random_constraints(num_steps, num_tags) if constrained else None
  rng = np.random.default_rng(0)
  want = np.zeros(len(lengths))
  for b, n in enumerate(lengths):
    if n == 0:
      continue
    paths, scores = _brute_force(emissions[b], n, params, constraints)
    pick = rng.integers(len(paths))  # a gold path that the constraints allow
    tags[b, :n] = paths[pick]
    want[b] = scores[pick] - _logsumexp(scores)
  mask = {} if constraints is None else dict(zip(("allowed", "start_allowed", "end_allowed"),
                                                 constraints))
  got = jax.jit(crf.crf_log_likelihood)(emissions, tags, lengths, **params, **mask)
  assert got.dtype == jnp.float64
  np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("num_tags, num_steps", SHAPES)
@pytest.mark.parametrize("constrained", [False, True])
def test_decode_matches_brute_force(x64, num_tags, num_steps, constrained):
  emissions, _, lengths, params = _random_problem(num_tags * 10 + num_steps + 1, 6, num_steps,
                                                  num_tags)
  constraints = _random_constraints(num_steps + 1, num_tags) if constrained else None
  mask = {} if constraints is None else dict(zip(("allowed", "start_allowed", "end_allowed"),
                                                 constraints))
  tags, score = jax.jit(crf.crf_decode)(emissions, lengths, **params, **mask)
  assert tags.shape == (6, num_steps) and tags.dtype == jnp.int32
  for b, n in enumerate(lengths):
    want_tags = np.zeros(num_steps, np.int32)
    want_score = 0.0
    if n > 0:
      paths, scores = _brute_force(emissions[b], n, params, constraints)
      want_tags[:n] = paths[int(np.argmax(scores))]
      want_score = scores.max()
    np.testing.assert_array_equal(tags[b], want_tags)
    np.testing.assert_allclose(score[b], want_score, rtol=1e-10, atol=1e-10)


def test_disallowed_gold_path_is_very_unlikely_but_finite(x64):
  allowed, start_allowed, end_allowed = crf.bio_allowed_transitions(BIO_LABELS)
  emissions, _, _, params = _random_problem(3, 1, 3, len(BIO_LABELS), lengths=[3])
  tags = np.array([[0, 2, 2]])  # O -> I-PER is forbidden
  ll = crf.crf_log_likelihood(emissions, tags, np.array([3]), **params, allowed=allowed,
                              start_allowed=start_allowed, end_allowed=end_allowed)
  assert np.isfinite(ll).all() and ll[0] < -1e3


@pytest.mark.parametrize("constrained", [False, True])
def test_probabilities_sum_to_one(x64, constrained):
  num_tags, length = 3, 4
  emissions, _, _, params = _random_problem(7, 1, 6, num_tags, lengths=[length])
  constraints = _random_constraints(7, num_tags) if constrained else None
  mask = {} if constraints is None else dict(zip(("allowed", "start_allowed", "end_allowed"),
                                                 constraints))
  paths = [p for p in itertools.product(range(num_tags), repeat=length)
           if constraints is None or _path_allowed(p, *constraints)]
  tags = np.zeros((len(paths), 6), np.int64)
  tags[:, :length] = paths
  emissions = np.repeat(emissions, len(paths), axis=0)
  lengths = np.full(len(paths), length)
  ll = crf.crf_log_likelihood(emissions, tags, lengths, **params, **mask)
  np.testing.assert_allclose(np.exp(ll).sum(), 1.0, rtol=1e-12)


@pytest.mark.parametrize("constrained", [False, True])
def test_gradients(x64, constrained):
  emissions, tags, lengths, params = _random_problem(11, 4, 4, len(BIO_LABELS), junk=3.0)
  mask = {}
  if constrained:
    mask = dict(zip(("allowed", "start_allowed", "end_allowed"),
                    crf.bio_allowed_transitions(BIO_LABELS)))

  def loss(emissions, transitions, start, end):
    return crf.crf_log_likelihood(emissions, tags, lengths, transitions, start, end,
                                  **mask).sum()

  check_grads(loss, (emissions, params["transitions"], params["start"], params["end"]), order=1,
              modes=["rev"])


def test_padding_invariance():
  emissions, tags, lengths, params = _random_problem(5, 6, 5, 4)
  emissions = emissions.astype(np.float32)
  rng = np.random.default_rng(1)
  more_emissions = np.concatenate([emissions, 1e6 * rng.normal(size=(6, 3, 4))], axis=1)
  more_emissions = more_emissions.astype(np.float32)
  more_tags = np.concatenate([tags, rng.integers(-5, 50, size=(6, 3))], axis=1)
  ll = crf.crf_log_likelihood(emissions, tags, lengths, **params)
  more_ll = crf.crf_log_likelihood(more_emissions, more_tags, lengths, **params)
  np.testing.assert_array_equal(ll, more_ll)
  decoded, score = crf.crf_decode(emissions, lengths, **params)
  more_decoded, more_score = crf.crf_decode(more_emissions, lengths, **params)
  np.testing.assert_array_equal(more_decoded[:, :5], decoded)
  np.testing.assert_array_equal(more_decoded[:, 5:], 0)
  np.testing.assert_array_equal(more_score, score)


def test_jit_matches_eager():
  emissions, tags, lengths, params = _random_problem(9, 5, 6, 3)
  emissions = emissions.astype(np.float32)
  args = (emissions, tags, lengths, *params.values())
  np.testing.assert_allclose(jax.jit(crf.crf_log_likelihood)(*args),
                             crf.crf_log_likelihood(*args), rtol=1e-6)
  decode_args = (emissions, lengths, *params.values())
  for got, want in zip(jax.jit(crf.crf_decode)(*decode_args), crf.crf_decode(*decode_args)):
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("junk", [1e6, np.inf])
def test_padded_emission_gradient_is_exactly_zero(junk):
  emissions, tags, lengths, params = _random_problem(13, 6, 5, 3, junk=junk)
  emissions = emissions.astype(np.float32)
  grads = jax.grad(lambda e: crf.crf_log_likelihood(e, tags, lengths, **params).sum())(emissions)
  valid = np.arange(5)[None, :] < lengths[:, None]
  assert np.isfinite(grads).all()
  assert (np.asarray(grads)[~valid] == 0).all()
  assert (np.abs(np.asarray(grads)[valid]).sum(axis=-1) > 0).all()


def _numpy_forward_and_viterbi(emissions_TxK, transitions, start, end):
  """float64 log partition and best-path score, step by step."""
  alpha = delta = start + emissions_TxK[0]
  for emission_K in emissions_TxK[1:]:
    scores = alpha[:, None] + transitions
    top = scores.max(axis=0)
    alpha = top + np.log(np.exp(scores - top[None, :]).sum(axis=0)) + emission_K
    delta = (delta[:, None] + transitions).max(axis=0) + emission_K
  return _logsumexp(alpha + end), (delta + end).max()


def test_long_sequence_float32_matches_float64_forward():
  num_steps, num_tags = 2000, 5
  emissions, tags, lengths, params = _random_problem(17, 3, num_steps, num_tags,
                                                     lengths=[num_steps, 1500, 1])
  emissions = 3.0 * emissions.astype(np.float32)
  params32 = {k: v.astype(np.float32) for k, v in params.items()}

  def loss(e):
    return crf.crf_log_likelihood(e, tags, lengths, **params32)

  ll = jax.jit(loss)(emissions)
  grads = jax.jit(jax.grad(lambda e: loss(e).sum()))(emissions)
  _, score = jax.jit(crf.crf_decode)(emissions, lengths, **params32)
  assert np.isfinite(ll).all() and np.isfinite(grads).all() and np.isfinite(score).all()
  e64 = emissions.astype(np.float64)
  p64 = {k: v.astype(np.float64) for k, v in params32.items()}
  for b, n in enumerate(lengths):
    log_z, best = _numpy_forward_and_viterbi(e64[b, :n], **p64)
    gold = _path_score(e64[b], tags[b, :n], **p64)
    # float32 rounding of the totals themselves (ulp(8000) ~ 5e-4), nothing accumulated.
    np.testing.assert_allclose(ll[b], gold - log_z, rtol=1e-6)
    np.testing.assert_allclose(score[b], best, rtol=1e-6)


def test_bio_allowed_transitions():
  allowed, start_allowed, end_allowed = crf.bio_allowed_transitions(BIO_LABELS + ["<pad>"])
  # Rows: from O, B-PER, I-PER, B-LOC, I-LOC, <pad>; columns the same order.
  want = np.array([[1, 1, 0, 1, 0, 1],
                   [1, 1, 1, 1, 0, 1],
                   [1, 1, 1, 1, 0, 1],
                   [1, 1, 0, 1, 1, 1],
                   [1, 1, 0, 1, 1, 1],
                   [1, 1, 0, 1, 0, 1]], dtype=bool)
  np.testing.assert_array_equal(allowed, want)
  np.testing.assert_array_equal(start_allowed, [1, 1, 0, 1, 0, 1])
  np.testing.assert_array_equal(end_allowed, np.ones(6, bool))


def test_decode_respects_bio_constraints():
  allowed, start_allowed, end_allowed = crf.bio_allowed_transitions(BIO_LABELS)
  emissions, _, lengths, params = _random_problem(19, 8, 6, len(BIO_LABELS))
  emissions = emissions.astype(np.float32)
  emissions[..., 2] += 5.0  # I-PER is the best tag everywhere without the constraints
  tags, _ = crf.crf_decode(emissions, lengths, **params, allowed=allowed,
                           start_allowed=start_allowed, end_allowed=end_allowed)
  for b, n in enumerate(lengths):
    if n > 0:
      assert _path_allowed(tuple(np.asarray(tags[b, :n])), allowed, start_allowed, end_allowed)


def test_package_reexports():
  assert bilstm_jax.crf_log_likelihood is crf.crf_log_likelihood
  assert bilstm_jax.crf_decode is crf.crf_decode
  assert bilstm_jax.bio_allowed_transitions is crf.bio_allowed_transitions
