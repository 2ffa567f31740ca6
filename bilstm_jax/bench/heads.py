"""The tagger's heads side by side: `bilstm-bench --heads` times one training step (and the
evaluation's decoding) of the same Bi-LSTM tagger with a softmax head and with a CRF head.

Both steps are the trainer's own (`loop.train_step`, `evaluate.make_eval_fns`) on random token
ids, lengths and BIO tags of one bench shape; the rounds alternate the heads (measure.py), so
machine load hits both alike. The CRF adds a forward-algorithm scan over time to the step, and
Viterbi plus a backtracking scan to decoding.
"""

from __future__ import annotations

import statistics

import jax
import numpy as np
import optax

from bilstm_jax.bench import measure
from bilstm_jax.bench.problem import Shape
from bilstm_jax.models.encoder import BiLSTM, Encoder
from bilstm_jax.models.heads import Tagger
from bilstm_jax.training import crf_loss, evaluate, loop
from bilstm_jax.training.state import create_train_state

HEADS = ("softmax", "crf")
TABLE_HEADER = ("| head | train step ms | x softmax | decode ms | x softmax |\n"
                "|---|---:|---:|---:|---:|")


def _label_names(num_classes: int) -> list[str]:
  """O plus B-/I- tags of (num_classes - 1) // 2 entity types (CoNLL-2003 has 9: 4 types)."""
  types = [f"T{i}" for i in range((num_classes - 1) // 2)]
  return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def _batch(shape: Shape, num_classes: int, vocab_size: int, seed: int) -> dict:
  rng = np.random.default_rng(seed)
  lengths = rng.integers(shape.steps // 2, shape.steps + 1, shape.batch).astype(np.int32)
  return {"inputs": rng.integers(1, vocab_size, (shape.batch, shape.steps)).astype(np.int32),
          "lengths": lengths, "mask": np.ones(shape.batch, np.int32),
          "labels": rng.integers(0, num_classes, (shape.batch, shape.steps)).astype(np.int32)}


def _steps(head: str, shape: Shape, batch: dict, label_names: list[str], vocab_size: int):
  """(train step, decode step) of one head, each a no-argument call that blocks."""
  encoder = Encoder(vocab_size=vocab_size, embed_dim=shape.features,
                    lstm=BiLSTM(units=shape.units, num_layers=shape.layers))
  model = Tagger(encoder, len(label_names), crf=head == "crf")
  spec = crf_loss.crf_spec(model, {"scheme": "bio", "label_names": label_names})
  tx = optax.adam(1e-3)
  state = create_train_state(model, tx, jax.random.PRNGKey(0), batch)
  schedule = optax.constant_schedule(1e-3)
  train = jax.jit(lambda s, b, r: loop.train_step(s, b, r, schedule, crf=spec))
  _, predict, _ = evaluate.make_eval_fns(model.apply, None, spec)
  rng = jax.random.PRNGKey(1)
  placed = jax.device_put(batch)

  def train_step():
    jax.block_until_ready(train(state, placed, rng))  # the same state each time: no donation

  def decode_step():
    jax.block_until_ready(predict(state.params, placed))

  return train_step, decode_step


def compare(shape: Shape, warmup: int, repeats: int, seed: int = 0,
            num_classes: int = 9, vocab_size: int = 5000) -> dict:
  """Median ms of each head's training step and decoding, and the ratios to softmax."""
  label_names = _label_names(num_classes)
  batch = _batch(shape, len(label_names), vocab_size, seed)
  train_steps, decode_steps = {}, {}
  for head in HEADS:
    train_steps[head], decode_steps[head] = _steps(head, shape, batch, label_names, vocab_size)
  train_times = measure.time_round_robin(train_steps, warmup, repeats)
  decode_times = measure.time_round_robin(decode_steps, warmup, repeats)
  median = {kind: {head: 1e3 * statistics.median(ts) for head, ts in times.items()}
            for kind, times in (("train", train_times), ("decode", decode_times))}
  return {"num_classes": len(label_names), "median_ms": median,
          "ratio_to_softmax": {kind: {head: ms / by_head["softmax"]
                                      for head, ms in by_head.items()}
                               for kind, by_head in median.items()}}


def format_result(result: dict) -> str:
  median, ratio = result["median_ms"], result["ratio_to_softmax"]
  rows = [f"| {head} | {median['train'][head]:.2f} | {ratio['train'][head]:.2f} | "
          f"{median['decode'][head]:.2f} | {ratio['decode'][head]:.2f} |" for head in HEADS]
  return "\n".join([TABLE_HEADER, *rows])
