"""Which way a metric improves: accuracy and F1 up, losses and error rates down.

The trainer picks its best checkpoint by this, and tables bold the best cell by it, so the
two cannot disagree.
"""

from __future__ import annotations

# The last part of a metric key ('val/loss' -> 'loss') that is better when lower.
LOWER_IS_BETTER = ("loss", "perplexity", "error_rate", "frame_error_rate", "label_error_rate",
                   "sequence_error_rate", "per", "wer", "cer", "ler", "ser", "fer")


# How a metric was decoded, after its name ('test/label_error_rate_beam'): not its direction.
DECODER_SUFFIXES = ("_beam", "_greedy")


def higher_is_better(metric: str) -> bool:
  """'val/accuracy' -> True; 'val/loss', 'test/label_error_rate(_beam)' -> False."""
  name = metric.rpartition("/")[2]
  for suffix in DECODER_SUFFIXES:
    name = name.removesuffix(suffix)
  return not (name in LOWER_IS_BETTER or name.endswith(("_loss", "_error_rate")))


def improves(value: float, best: float | None, metric: str) -> bool:
  """Whether `value` replaces `best`; a tie does, so the later of equal checkpoints is kept."""
  if best is None:
    return True
  return value >= best if higher_is_better(metric) else value <= best
