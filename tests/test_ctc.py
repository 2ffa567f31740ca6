"""CTC: the loss against a float64 forward algorithm, decoding against enumeration of all paths."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bilstm_jax.core import ctc

MAX_LABELS = 4


def _log_softmax(scores):
  top = scores.max(axis=-1, keepdims=True)
  return scores - top - np.log(np.exp(scores - top).sum(axis=-1, keepdims=True))


def _logsumexp(scores):
  scores = np.asarray(scores, np.float64)
  top = scores.max()
  if top == -np.inf:  # no path at all; -inf - -inf would be NaN
    return -np.inf
  return top + np.log(np.exp(scores - top).sum())


def _reference_nll(log_probs_TxK, labels, blank=0):
  """-log p(labels) by the alpha recursion over `_ y1 _ y2 _ ...` in float64; inf if impossible."""
  extended = [blank]
  for label in labels:
    extended += [int(label), blank]
  num_states = len(extended)
  if len(log_probs_TxK) == 0:
    return 0.0 if num_states == 1 else np.inf
  alpha = np.full(num_states, -np.inf)
  alpha[0] = log_probs_TxK[0, blank]
  if num_states > 1:
    alpha[1] = log_probs_TxK[0, extended[1]]
  for log_probs_K in log_probs_TxK[1:]:
    new = alpha.copy()
    new[1:] = np.logaddexp(new[1:], alpha[:-1])
    for s in range(2, num_states):
      # Skip the blank between two labels only when they differ.
      if extended[s] != blank and extended[s] != extended[s - 2]:
        new[s] = np.logaddexp(new[s], alpha[s - 2])
    alpha = new + log_probs_K[extended]
  return -_logsumexp(alpha[-2:])


def _random_ctc_batch(seed, batch=10, junk=1e6):
  """Random K in 2..5 and T in 1..8, lengths from 0, repeats, and junk past every length."""
  rng = np.random.default_rng(seed)
  num_classes, num_frames = int(rng.integers(2, 6)), int(rng.integers(1, 9))
  logits = 2.0 * rng.normal(size=(batch, num_frames, num_classes))
  logit_lengths = rng.integers(0, num_frames + 1, size=batch)
  logit_lengths[:3] = num_frames
  labels = rng.integers(1, num_classes, size=(batch, MAX_LABELS))
  label_lengths = rng.integers(0, MAX_LABELS + 1, size=batch)
  label_lengths[:3] = [0, 2, 1]
  labels[1, 1] = labels[1, 0]  # a repeat that needs a blank between
  for b in range(batch):
    n, m = logit_lengths[b], label_lengths[b]
    logits[b, n:] = junk * rng.choice([-1.0, 1.0], size=(num_frames - n, num_classes))
    # Junk labels, including a copy of the last label (a repeat across the end).
    tail = [-1, num_classes, 10**6] + ([labels[b, m - 1]] if m else [])
    labels[b, m:] = rng.choice(tail, size=MAX_LABELS - m)
  return logits.astype(np.float32), logit_lengths, labels, label_lengths


@pytest.mark.parametrize("seed", range(8))
def test_loss_matches_reference_forward(seed):
  junk = np.inf if seed % 2 else 1e6
  logits, logit_lengths, labels, label_lengths = _random_ctc_batch(seed, junk=junk)
  nll, feasible = jax.jit(ctc.ctc_loss)(logits, logit_lengths, labels, label_lengths)
  assert nll.dtype == jnp.float32 and feasible.dtype == jnp.bool_
  assert np.isfinite(nll).all()
  num_feasible = 0
  for b in range(len(logits)):
    n, m = logit_lengths[b], label_lengths[b]
    want = _reference_nll(_log_softmax(logits[b, :n].astype(np.float64)), labels[b, :m])
    assert bool(feasible[b]) == np.isfinite(want), (b, n, labels[b, :m])
    assert bool(feasible[b]) == (n >= ctc.min_frames(labels[b, :m]))
    if np.isfinite(want):
      num_feasible += 1
      np.testing.assert_allclose(nll[b], want, rtol=1e-4, atol=1e-5)
    else:
      assert nll[b] == 0.0
  assert num_feasible >= 2


def test_small_cases_by_hand():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(6, 3, 3)).astype(np.float32)
  log_probs = _log_softmax(logits.astype(np.float64))
  labels = np.array([[1, 1], [1, 1], [1, 2], [2, 0], [7, 7], [1, 2]])
  logit_lengths = np.array([2, 3, 1, 3, 0, 3])
  label_lengths = np.array([2, 2, 2, 0, 0, 2])
  nll, feasible = jax.jit(ctc.ctc_loss)(logits, logit_lengths, labels, label_lengths)
  # [1, 1] needs 3 frames, [1, 2] needs 2; empty strings fit anywhere, even in 0 frames.
  np.testing.assert_array_equal(feasible, [False, True, False, True, True, True])
  assert nll[0] == 0.0 and nll[2] == 0.0
  np.testing.assert_allclose(nll[1], _reference_nll(log_probs[1], [1, 1]), rtol=1e-5)
  np.testing.assert_allclose(nll[3], -log_probs[3, :, 0].sum(), rtol=1e-5)
  assert nll[4] == 0.0
  # [1, 2] in 3 frames: 1 2 _, 1 _ 2, _ 1 2, 1 1 2, 1 2 2.
  paths = [(1, 2, 0), (1, 0, 2), (0, 1, 2), (1, 1, 2), (1, 2, 2)]
  want = -_logsumexp([log_probs[5, range(3), p].sum() for p in paths])
  np.testing.assert_allclose(nll[5], want, rtol=1e-5)


def test_empty_axes_and_dtype():
  nll, feasible = ctc.ctc_loss(np.zeros((2, 0, 3)), [0, 0], np.zeros((2, 0), int), [0, 0])
  np.testing.assert_array_equal(nll, [0.0, 0.0])
  np.testing.assert_array_equal(feasible, [True, True])
  logits = np.random.default_rng(1).normal(size=(2, 4, 3))
  nll, feasible = jax.jit(ctc.ctc_loss)(jnp.asarray(logits, jnp.bfloat16), np.array([4, 2]),
                                        np.zeros((2, 0), int), np.array([0, 0]))
  assert nll.dtype == jnp.float32 and feasible.all()
  log_probs = _log_softmax(np.asarray(jnp.asarray(logits, jnp.bfloat16), np.float64))
  np.testing.assert_allclose(nll, [-log_probs[0, :, 0].sum(), -log_probs[1, :2, 0].sum()],
                             rtol=1e-5)


def test_feasible_numpy_and_jax_agree():
  _, logit_lengths, labels, label_lengths = _random_ctc_batch(3, batch=32)
  on_host = ctc.ctc_feasible(logit_lengths, labels, label_lengths)
  on_device = ctc.ctc_feasible(jnp.asarray(logit_lengths), jnp.asarray(labels),
                               jnp.asarray(label_lengths))
  assert isinstance(on_host, np.ndarray) and isinstance(on_device, jax.Array)
  want = [n >= ctc.min_frames(labels[b, :m])
          for b, (n, m) in enumerate(zip(logit_lengths, label_lengths))]
  np.testing.assert_array_equal(on_host, want)
  np.testing.assert_array_equal(on_device, want)
  assert not all(want) and any(want)
  assert ctc.min_frames([3, 3, 3, 1, 1, 2]) == 9 and ctc.min_frames([]) == 0


def test_gradients_with_infeasible_rows():
  logits, logit_lengths, labels, label_lengths = _random_ctc_batch(5, batch=12, junk=np.inf)
  logit_lengths[3], labels[3, :2], label_lengths[3] = 2, [1, 1], 2  # infeasible
  _, feasible = ctc.ctc_loss(logits, logit_lengths, labels, label_lengths)
  assert not feasible.all() and feasible.sum() >= 3

  def mean_nll(logits):
    return ctc.ctc_loss(logits, logit_lengths, labels, label_lengths)[0].mean()

  grads = np.asarray(jax.jit(jax.grad(mean_nll))(logits))
  assert np.isfinite(grads).all()
  valid = np.arange(logits.shape[1])[None, :] < logit_lengths[:, None]
  assert (grads[~valid] == 0).all()
  assert (grads[~np.asarray(feasible)] == 0).all()
  # Softmax is shift-invariant, so each frame's gradient sums to zero over classes.
  np.testing.assert_allclose(grads.sum(axis=-1), 0.0, atol=1e-6)
  live = valid & np.asarray(feasible)[:, None]
  assert (np.abs(grads[live]).sum(axis=-1) > 0).all()
  # Central differences of the float64 reference, one feasible row.
  b = int(np.flatnonzero(np.asarray(feasible) & (logit_lengths > 0))[0])
  n, m, eps = logit_lengths[b], label_lengths[b], 1e-6
  row = logits[b, :n].astype(np.float64)
  want = np.zeros_like(row)
  for index in np.ndindex(*row.shape):
    step = np.zeros_like(row)
    step[index] = eps
    want[index] = (_reference_nll(_log_softmax(row + step), labels[b, :m])
                   - _reference_nll(_log_softmax(row - step), labels[b, :m])) / (2 * eps)
  np.testing.assert_allclose(grads[b, :n] * len(logits), want, rtol=1e-3, atol=1e-5)


def _collapse(path, blank=0):
  merged = [c for t, c in enumerate(path) if t == 0 or c != path[t - 1]]
  return tuple(c for c in merged if c != blank)


def _string_log_probs(log_probs_TxK):
  """Every label string's log-probability, summed over all K^T frame paths (float64)."""
  num_frames, num_classes = log_probs_TxK.shape
  paths = np.array(list(itertools.product(range(num_classes), repeat=num_frames)), np.int64)
  paths = paths.reshape(-1, num_frames)
  scores = log_probs_TxK[np.arange(num_frames)[None, :], paths].sum(axis=1)
  grouped = {}
  for path, score in zip(paths.tolist(), scores):
    grouped.setdefault(_collapse(path), []).append(score)
  best_path = _collapse(paths[int(np.argmax(scores))].tolist())
  return {string: _logsumexp(s) for string, s in grouped.items()}, best_path


def _num_prefixes(num_frames, num_classes):
  return sum((num_classes - 1) ** length for length in range(num_frames + 1))


def test_greedy_decode_matches_best_path():
  rng = np.random.default_rng(0)
  batch, num_frames, num_classes = 16, 5, 3
  logits = 1.5 * rng.normal(size=(batch, num_frames, num_classes))
  lengths = rng.integers(0, num_frames + 1, size=batch)
  lengths[:2] = [0, num_frames]
  for b, n in enumerate(lengths):
    logits[b, n:, 1] = 1e6  # junk that would win every ignored frame
  tokens, token_lengths = jax.jit(ctc.greedy_decode)(logits.astype(np.float32), lengths)
  assert tokens.dtype == jnp.int32 and token_lengths.dtype == jnp.int32
  assert tokens.shape == (batch, num_frames)
  for b, n in enumerate(lengths):
    want = _collapse(np.argmax(logits[b, :n], axis=-1).tolist())
    if n:
      _, best_path = _string_log_probs(_log_softmax(logits[b, :n]))
      assert best_path == want
    assert token_lengths[b] == len(want)
    np.testing.assert_array_equal(tokens[b, :len(want)], want)
    np.testing.assert_array_equal(tokens[b, len(want):], -1)


def test_greedy_decode_by_hand_and_under_jit():
  blank, a, b = 0, 1, 2
  path = [a, a, blank, a, b, b, blank, b]
  logits = 5.0 * np.eye(3)[path][None].astype(np.float32)
  logits = np.concatenate([logits, logits], axis=0)
  lengths = np.array([8, 6])
  decode = jax.jit(ctc.greedy_decode)
  tokens, token_lengths = decode(logits, lengths)
  np.testing.assert_array_equal(token_lengths, [4, 3])
  np.testing.assert_array_equal(tokens[0], [a, a, b, b, -1, -1, -1, -1])
  np.testing.assert_array_equal(tokens[1], [a, a, b, -1, -1, -1, -1, -1])
  for got, want in zip(decode(logits, lengths), ctc.greedy_decode(logits, lengths)):
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("num_classes, num_frames", [(3, 1), (3, 3), (3, 5), (4, 4)])
def test_prefix_beam_search_is_exact_map_when_wide(num_classes, num_frames):
  rng = np.random.default_rng(num_classes * 10 + num_frames)
  width = _num_prefixes(num_frames, num_classes)
  for _ in range(6):
    log_probs = _log_softmax(1.5 * rng.normal(size=(num_frames, num_classes)))
    exact, _ = _string_log_probs(log_probs)
    want = max(exact, key=exact.get)
    got, score = ctc.prefix_beam_search(log_probs, width)
    assert tuple(got) == want
    np.testing.assert_allclose(score, exact[want], rtol=1e-12, atol=1e-12)
    # A narrow beam keeps fewer alignments: its score can only be a lower bound.
    narrow, narrow_score = ctc.prefix_beam_search(log_probs, 2)
    assert narrow_score <= exact[tuple(narrow)] + 1e-12


def test_beam_width_one_is_not_greedy():
  a, b = 1, 2
  probs = np.array([[0.3, 0.5, 0.2],   # a
                    [0.3, 0.3, 0.4]])  # b, but blank + a (0.6) beats it for the prefix `a`
  log_probs = np.log(probs)
  tokens, token_lengths = ctc.greedy_decode(log_probs[None], np.array([2]))
  np.testing.assert_array_equal(tokens[0, :token_lengths[0]], [a, b])
  assert ctc.prefix_beam_search(log_probs, 1)[0] == [a]
  best, score = ctc.prefix_beam_search(log_probs, 10)
  # p(a) = a a + a _ + _ a = 0.15 + 0.15 + 0.09
  assert best == [a] and np.isclose(score, np.log(0.39), rtol=1e-12)
  assert ctc.prefix_beam_search(np.zeros((0, 3)), 3) == ([], 0.0)
  with pytest.raises(ValueError):
    ctc.prefix_beam_search(log_probs, 0)


def test_beam_decode_batch_with_padding():
  rng = np.random.default_rng(4)
  batch, num_frames, num_classes = 8, 5, 3
  logits = 2.0 * rng.normal(size=(batch, num_frames, num_classes))  # not normalised
  lengths = rng.integers(0, num_frames + 1, size=batch)
  lengths[:2] = [0, num_frames]
  for b, n in enumerate(lengths):
    junk_frames = np.arange(n, num_frames)
    logits[b, junk_frames, 1 + junk_frames % 2] = 1e6  # junk that would decode as 1 2 1 ...
  decoded = ctc.beam_decode_batch(logits, lengths, _num_prefixes(num_frames, num_classes))
  assert decoded[0] == []
  for b, n in enumerate(lengths):
    if n:
      exact, _ = _string_log_probs(_log_softmax(logits[b, :n]))
      assert tuple(decoded[b]) == max(exact, key=exact.get)
      assert decoded[b] == ctc.prefix_beam_search(_log_softmax(logits[b, :n]), 64)[0]


def test_edit_distance_matches_editdistance():
  editdistance = __import__("editdistance")
  rng = np.random.default_rng(0)
  for _ in range(300):
    ref = rng.integers(0, 4, size=rng.integers(0, 11)).tolist()
    hyp = rng.integers(0, 4, size=rng.integers(0, 11)).tolist()
    assert ctc.edit_distance(ref, hyp) == editdistance.eval(ref, hyp), (ref, hyp)
  assert ctc.edit_distance([], []) == 0
  assert ctc.edit_distance([10**9, 5], [5]) == 1


def test_error_counts():
  refs = [[1, 2, 3], [4], [], [5, 5], [1, 2]]
  hyps = [[1, 3, 3], [4], [7], [5], [2, 1]]
  assert ctc.error_counts(refs, hyps) == {"edits": 1 + 0 + 1 + 1 + 2, "ref_length": 8,
                                          "sequences": 5, "sequence_errors": 4}
  with pytest.raises(ValueError):
    ctc.error_counts(refs, hyps[:-1])
