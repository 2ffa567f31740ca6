"""Run names: readable, unique, safe directory names from the keys a sweep varies."""

from __future__ import annotations

import hashlib
import json
import re

from bilstm_jax.sweeps.spec import SEED_KEY

_MAX_NAME_CHARS = 150


def sanitize(name: str) -> str:
  """A safe single path component: no '/', no '..', no leading '.' or '-', [A-Za-z0-9._=,+-]."""
  safe = re.sub(r"[^A-Za-z0-9._=,+-]", "_", name)
  safe = re.sub(r"\.{2,}", "_", safe)
  safe = re.sub(r"^[.-]", "_", safe)
  if len(safe) > _MAX_NAME_CHARS:
    # Cut from the middle, keeping a short last part (the seed) after a digest of the rest:
    # the seeds of one setting share the digest and stay told apart.
    last = safe[safe.rfind(","):] if 0 < len(safe) - safe.rfind(",") <= 24 else ""
    rest = name[:name.rfind(",")] if last else name
    digest = hashlib.sha256(rest.encode()).hexdigest()[:8]
    safe = f"{safe[:_MAX_NAME_CHARS - 9 - len(last)]}-{digest}{last}"
  return safe or "run"


def format_value(value) -> str:
  if isinstance(value, float):
    return f"{value:g}"
  if isinstance(value, (list, tuple)):
    return "+".join(format_value(v) for v in value)
  return str(value)


def varied_keys(rows: list[dict]) -> list[str]:
  """Keys whose value differs between rows (or that some rows leave out); seed last."""
  keys = list(dict.fromkeys(k for row in rows for k in row))
  varied = [k for k in keys
            if len({json.dumps(row.get(k, "\0missing"), default=str) for row in rows}) > 1]
  return [k for k in varied if k != SEED_KEY] + [k for k in varied if k == SEED_KEY]


def _short_names(keys: list[str]) -> dict[str, str]:
  """'model.merge' -> 'merge', unless two varied keys share a last part (then the full key)."""
  last = [k.rsplit(".", 1)[-1] for k in keys]
  return {k: (short if last.count(short) == 1 else k) for k, short in zip(keys, last)}


def run_names(rows: list[dict]) -> list[str]:
  """Deterministic readable names from the varied keys, unique within the sweep."""
  keys = varied_keys(rows)
  short = _short_names(keys)
  names = [sanitize(",".join(f"{short[k]}={format_value(row[k])}" for k in keys if k in row))
           for row in rows]
  counts = {}
  for name in names:
    counts[name] = counts.get(name, 0) + 1
  for i, (name, row) in enumerate(zip(names, rows)):
    if counts[name] > 1:  # only when sanitising merged two values; keep both, told apart
      digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
      names[i] = sanitize(f"{name}-{digest[:8]}")
  if len(set(names)) != len(names):
    dupes = sorted({n for n in names if names.count(n) > 1})
    raise ValueError(f"rows repeat the same overrides: {dupes}")
  return names


def run_tags(row: dict, keys: list[str]) -> tuple[str, ...]:
  """W&B tags for a row: its varied keys other than the seed, as `short=value`."""
  short = _short_names(keys)
  return tuple(f"{short[k]}={format_value(row[k])}" for k in keys if k in row and k != SEED_KEY)
