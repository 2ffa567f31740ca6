"""Writing files that must survive a kill: write a temporary file, fsync it, rename it over.

A reader (a resumed run, a table, a concurrent process) then sees the old file or the new one,
never half of one. Every such write in the package goes through here.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[IO]:
  """Open a temporary file beside `path`; on a clean exit fsync it and rename it to `path`.

  On an exception the temporary file is removed and `path` is left as it was.
  """
  if mode not in ("w", "wb"):
    raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
  folder = os.path.dirname(path)
  if folder:
    os.makedirs(folder, exist_ok=True)
  tmp = f"{path}.tmp.{os.getpid()}"  # per process: two writers never share a temporary file
  try:
    with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def atomic_write_text(path: str, text: str) -> None:
  with atomic_open(path) as f:
    f.write(text)


def atomic_write_json(path: str, obj, indent: int = 2) -> None:
  """JSON with sorted keys and a final newline, written atomically."""
  atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
