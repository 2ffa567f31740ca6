"""Linear-chain CRF in pure JAX: log-likelihood (forward algorithm), Viterbi decoding, BIO masks.

Scores of a tag path y_0 .. y_{n-1} for a sequence of length n (n = lengths[b])::

    score(y) = start[y_0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t]
               + end[y_{n-1}]

so `transitions[i, j]` is the score of moving from tag i (row) to tag j (column).
`log p(y | x) = score(y) - logsumexp over all paths`. Steps at or beyond a sequence's length are
ignored whatever they hold, and a sequence of length 0 has log-likelihood 0 and decode score 0.

Optional constraints (`allowed` [K, K], `start_allowed` [K], `end_allowed` [K], booleans) replace
the scores of forbidden moves by `DISALLOWED_SCORE` in the partition function, the gold path score
and decoding alike; `bio_allowed_transitions` builds them for BIO/IOB2 label sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array

# Finite rather than -inf, so that logsumexp over only-forbidden moves (a tag no allowed move
# reaches) and the gradients stay finite (no inf - inf), while exp() of it next to any allowed
# path still underflows to exactly 0. It fits in float16 and bfloat16 too, and a forbidden move
# loses every max unless the allowed paths are worse by thousands.
DISALLOWED_SCORE = -1e4


def constrain_scores(transitions: Array, start: Array, end: Array,
                     allowed: Array | None = None, start_allowed: Array | None = None,
                     end_allowed: Array | None = None) -> tuple[Array, Array, Array]:
  """(transitions, start, end) with forbidden entries set to `DISALLOWED_SCORE`; None = all."""
  def mask(scores, ok):
    if ok is None:
      return scores
    # where, not addition: the penalty is the same whatever the learned score, and forbidden
    # entries get zero gradient.
    return jnp.where(jnp.asarray(ok, bool), scores, jnp.asarray(DISALLOWED_SCORE, scores.dtype))
  return mask(transitions, allowed), mask(start, start_allowed), mask(end, end_allowed)


def _prepare(emissions, lengths, transitions, start, end, allowed, start_allowed, end_allowed):
  """Common casts, constraints and the valid-step mask; padded emissions replaced by zeros."""
  dtype = jnp.result_type(emissions, transitions, start, end)
  if not jnp.issubdtype(dtype, jnp.floating):
    dtype = jnp.float32
  emissions_BxTxK = jnp.asarray(emissions, dtype)
  transitions_KxK, start_K, end_K = constrain_scores(
      jnp.asarray(transitions, dtype), jnp.asarray(start, dtype), jnp.asarray(end, dtype),
      allowed, start_allowed, end_allowed)
  lengths_B = jnp.asarray(lengths, jnp.int32)
  num_steps = emissions_BxTxK.shape[1]
  valid_BxT = jnp.arange(num_steps, dtype=jnp.int32)[None, :] < lengths_B[:, None]
  # Selection, not multiplication by the mask: junk (large or inf) beyond a length must neither
  # reach the sums nor give 0 * inf = NaN gradients; where() sends those positions exactly 0.
  emissions_BxTxK = jnp.where(valid_BxT[:, :, None], emissions_BxTxK,
                              jnp.zeros((), dtype))
  return emissions_BxTxK, lengths_B, valid_BxT, transitions_KxK, start_K, end_K


def _log_partition_steps(emissions_BxTxK, valid_BxT, transitions_KxK, start_K,
                         end_K) -> tuple[Array, Array]:
  """Forward algorithm as a scan over time: log Z split into per-step terms [B, T] and a last [B].

  alpha is renormalised every step and the per-step log normalisers are returned rather than
  accumulated in the carry: a running log Z grows like T, and adding O(1) terms to it in float32
  loses ~ulp(T) each step; summing the terms afterwards (pairwise, next to the gold path's
  per-step terms) keeps T in the thousands accurate.
  """
  alpha_BxK = start_K[None, :] + emissions_BxTxK[:, 0]
  norm_B = jax.nn.logsumexp(alpha_BxK, axis=1)
  alpha_BxK = alpha_BxK - norm_B[:, None]

  def step(alpha_BxK, inputs):
    emission_BxK, valid_B = inputs
    scores_BxKxK = alpha_BxK[:, :, None] + transitions_KxK[None, :, :]
    new_BxK = jax.nn.logsumexp(scores_BxKxK, axis=1) + emission_BxK
    norm_B = jax.nn.logsumexp(new_BxK, axis=1)
    new_BxK = new_BxK - norm_B[:, None]
    # A finished sequence carries its alpha unchanged to the end of the scan and adds nothing.
    alpha_BxK = jnp.where(valid_B[:, None], new_BxK, alpha_BxK)
    return alpha_BxK, jnp.where(valid_B, norm_B, jnp.zeros((), norm_B.dtype))

  xs = (jnp.swapaxes(emissions_BxTxK[:, 1:], 0, 1), jnp.swapaxes(valid_BxT[:, 1:], 0, 1))
  alpha_BxK, norms_Tm1xB = lax.scan(step, alpha_BxK, xs)
  norms_BxT = jnp.concatenate([norm_B[:, None], jnp.swapaxes(norms_Tm1xB, 0, 1)], axis=1)
  return norms_BxT, jax.nn.logsumexp(alpha_BxK + end_K[None, :], axis=1)


def _gold_score_steps(emissions_BxTxK, tags_BxT, lengths_B, valid_BxT, transitions_KxK, start_K,
                      end_K) -> tuple[Array, Array]:
  """The given paths' unnormalised score as per-step terms [B, T] (0 past a length) and end [B]."""
  emission_BxT = jnp.take_along_axis(emissions_BxTxK, tags_BxT[:, :, None], axis=2)[:, :, 0]
  step_BxTm1 = transitions_KxK[tags_BxT[:, :-1], tags_BxT[:, 1:]]
  into_BxT = jnp.concatenate([start_K[tags_BxT[:, :1]], step_BxTm1], axis=1)
  zero = jnp.zeros((), emission_BxT.dtype)
  steps_BxT = jnp.where(valid_BxT, emission_BxT + into_BxT, zero)
  last_B = jnp.take_along_axis(tags_BxT, jnp.maximum(lengths_B - 1, 0)[:, None], axis=1)[:, 0]
  return steps_BxT, end_K[last_B]


def crf_log_likelihood(emissions: Array, tags: Array, lengths: Array, transitions: Array,
                       start: Array, end: Array, allowed: Array | None = None,
                       start_allowed: Array | None = None,
                       end_allowed: Array | None = None) -> Array:
  """log p(tags | emissions) per sequence, [B]; 0 for a sequence of length 0.

  Args:
    emissions: [B, T, K] per-step tag scores.
    tags: [B, T] int gold tags; entries at or beyond a sequence's length are ignored.
    lengths: [B] int valid steps per sequence, 0 <= lengths <= T.
    transitions: [K, K], transitions[i, j] scores tag i followed by tag j.
    start, end: [K] scores of the first and of the last tag.
    allowed, start_allowed, end_allowed: optional bool constraints (see `constrain_scores`).
  """
  emissions_BxTxK, lengths_B, valid_BxT, transitions_KxK, start_K, end_K = _prepare(
      emissions, lengths, transitions, start, end, allowed, start_allowed, end_allowed)
  # Junk tags beyond a length could be out of range; tag 0 there is never counted.
  tags_BxT = jnp.where(valid_BxT, jnp.asarray(tags, jnp.int32), 0)
  norms_BxT, log_z_last_B = _log_partition_steps(emissions_BxTxK, valid_BxT, transitions_KxK,
                                                 start_K, end_K)
  gold_BxT, gold_last_B = _gold_score_steps(emissions_BxTxK, tags_BxT, lengths_B, valid_BxT,
                                            transitions_KxK, start_K, end_K)
  # Step by step the gold score and log Z are of the same size, so their differences are O(1)
  # and their sum loses little even when both totals are in the thousands.
  log_likelihood_B = (gold_BxT - norms_BxT).sum(axis=1) + (gold_last_B - log_z_last_B)
  # Every term is finite for length 0 too (zeroed emissions), so this where() has finite
  # gradients on both branches.
  return jnp.where(lengths_B > 0, log_likelihood_B, jnp.zeros((), log_likelihood_B.dtype))


def crf_decode(emissions: Array, lengths: Array, transitions: Array, start: Array, end: Array,
               allowed: Array | None = None, start_allowed: Array | None = None,
               end_allowed: Array | None = None) -> tuple[Array, Array]:
  """Viterbi: the best tag path [B, T] int32 (0 beyond each length) and its score [B].

  The score is unnormalised (emissions + start + transitions + end); length 0 gives tags 0 and
  score 0. Ties go to the lowest tag index.
  """
  emissions_BxTxK, lengths_B, valid_BxT, transitions_KxK, start_K, end_K = _prepare(
      emissions, lengths, transitions, start, end, allowed, start_allowed, end_allowed)
  num_tags = emissions_BxTxK.shape[2]
  identity_K = jnp.arange(num_tags, dtype=jnp.int32)
  delta_BxK = start_K[None, :] + emissions_BxTxK[:, 0]
  # delta is shifted by its max every step (the argmaxes do not change) and the shifts summed
  # afterwards, for the same float32 reason as in `_log_partition_steps`.
  shift_B = jnp.max(delta_BxK, axis=1)
  delta_BxK = delta_BxK - shift_B[:, None]

  def forward(delta_BxK, inputs):
    emission_BxK, valid_B = inputs
    scores_BxKxK = delta_BxK[:, :, None] + transitions_KxK[None, :, :]
    backpointer_BxK = jnp.argmax(scores_BxKxK, axis=1).astype(jnp.int32)
    new_BxK = jnp.max(scores_BxKxK, axis=1) + emission_BxK
    shift_B = jnp.max(new_BxK, axis=1)
    new_BxK = new_BxK - shift_B[:, None]
    # Past the end a step keeps delta, adds nothing and points each tag at itself, so
    # backtracking carries the last real tag unchanged through the padding.
    backpointer_BxK = jnp.where(valid_B[:, None], backpointer_BxK, identity_K[None, :])
    delta_BxK = jnp.where(valid_B[:, None], new_BxK, delta_BxK)
    return delta_BxK, (backpointer_BxK, jnp.where(valid_B, shift_B, jnp.zeros((), shift_B.dtype)))

  xs = (jnp.swapaxes(emissions_BxTxK[:, 1:], 0, 1), jnp.swapaxes(valid_BxT[:, 1:], 0, 1))
  delta_BxK, (backpointers_Tm1xBxK, shifts_Tm1xB) = lax.scan(forward, delta_BxK, xs)
  final_BxK = delta_BxK + end_K[None, :]
  last_B = jnp.argmax(final_BxK, axis=1).astype(jnp.int32)
  score_B = shift_B + shifts_Tm1xB.sum(axis=0) + jnp.max(final_BxK, axis=1)

  def backtrack(tag_B, backpointer_BxK):
    previous_B = jnp.take_along_axis(backpointer_BxK, tag_B[:, None], axis=1)[:, 0]
    return previous_B, tag_B

  # Reverse scan: ys[i] is the tag at step i + 1, the final carry the tag at step 0.
  first_B, rest_Tm1xB = lax.scan(backtrack, last_B, backpointers_Tm1xBxK, reverse=True)
  tags_BxT = jnp.concatenate([first_B[:, None], jnp.swapaxes(rest_Tm1xB, 0, 1)], axis=1)
  tags_BxT = jnp.where(valid_BxT, tags_BxT, 0)
  score_B = jnp.where(lengths_B > 0, score_B, jnp.zeros((), score_B.dtype))
  return tags_BxT, score_B


def bio_allowed_transitions(label_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
  """BIO/IOB2 constraints (allowed [K, K], start_allowed [K], end_allowed [K]) as numpy bools.

  `I-X` may only follow `B-X` or `I-X` and may not start a sequence; every other move (into `O`,
  into any `B-X`, or between labels without a `B-`/`I-` prefix) is allowed, and any tag may end
  a sequence. The entity type is everything after the first '-'.
  """
  def split(name):
    prefix, _, kind = name.partition("-")
    return (prefix, kind) if prefix in ("B", "I") and kind else (None, None)

  parts = [split(name) for name in label_names]
  num_tags = len(parts)
  allowed = np.ones((num_tags, num_tags), dtype=bool)
  start_allowed = np.ones(num_tags, dtype=bool)
  end_allowed = np.ones(num_tags, dtype=bool)
  for j, (prefix_j, kind_j) in enumerate(parts):
    if prefix_j != "I":
      continue
    start_allowed[j] = False
    for i, (prefix_i, kind_i) in enumerate(parts):
      allowed[i, j] = prefix_i in ("B", "I") and kind_i == kind_j
  return allowed, start_allowed, end_allowed
