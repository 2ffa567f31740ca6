"""Evaluation over whole splits: sums and counts on device, means and span F1 on the host."""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from bilstm_jax.data import batching
from bilstm_jax.training import crf_loss, metrics, parallel
from bilstm_jax.training import spans as spans_lib


def make_eval_fns(apply_fn, coarse_of=None, crf: crf_loss.CRFSpec | None = None):
  """(sums_fn, predict_fn), both jitted: masked sums for every task (with the coarse accuracy
  when coarse_of maps fine labels to coarse ids), and the tags spans are read from: the argmax,
  or with a CRF head (crf, from crf_loss.crf_spec) its Viterbi path, which its accuracy uses
  too."""

  def logits_of(params, batch):
    return apply_fn({"params": params}, batch["inputs"], batch["lengths"], train=False)

  def sums(params, batch):
    if crf is not None:
      return crf_loss.loss_and_sums(logits_of(params, batch), params, batch, crf, decode=True)[1]
    return metrics.loss_and_sums(logits_of(params, batch), batch, coarse_of)[1]

  def predict(params, batch):
    if crf is not None:
      return crf_loss.predict(logits_of(params, batch), params, batch["lengths"], crf)
    return jnp.argmax(logits_of(params, batch), axis=-1)

  return jax.jit(sums), jax.jit(predict)


def metric_names(info: dict, split: str, coarse: bool) -> list[str]:
  """The keys `evaluate` returns for `split`, known before any evaluation runs (so a wrong
  config.eval_metric is refused before the run directory is written)."""
  # Named by the functions that make them, on empty sums, so the two cannot drift apart.
  sums = {"loss_sum": 0.0, "correct_sum": 0.0, "count": 0.0}
  if coarse:
    sums["coarse_correct_sum"] = 0.0
  names = list(metrics.summarize(sums, split))
  if info.get("scheme") == "bio":
    names += list(spans_lib.span_prf(collections.Counter(correct=0, gold=0, pred=0), split))
  return names


def evaluate(eval_fns, params, dataset, *, batch_size: int, boundaries, split: str, mesh,
             info: dict) -> dict[str, float]:
  """Every example of `dataset` once (padding rows masked); loss/accuracy means, and span
  precision/recall/F1 when the tags are BIO (info['scheme'] == 'bio')."""
  sums_fn, predict_fn = eval_fns
  spans = info.get("scheme") == "bio"  # per-type F1 too: split/span_f1_<TYPE>
  label_names = info.get("label_names")
  totals = None
  counts = collections.Counter()
  for batch in batching.eval_batches(dataset, batch_size, boundaries):
    placed = parallel.shard_batch(batch, mesh)
    sums = sums_fn(params, placed)
    totals = sums if totals is None else jax.tree_util.tree_map(jnp.add, totals, sums)
    if spans:
      preds = np.asarray(multihost_utils.process_allgather(predict_fn(params, placed), tiled=True))
      for row in np.flatnonzero(batch["mask"]):
        n = batch["lengths"][row]
        gold = [label_names[t] for t in batch["labels"][row, :n]]
        pred = [label_names[t] for t in preds[row, :n]]
        counts.update(spans_lib.span_counts(gold, pred))
  results = metrics.summarize(jax.device_get(totals), split)
  if spans:
    results.update(spans_lib.span_prf(counts, split))
  return results
