"""A table rebuilt from the per-run values of its committed `<sweep>.runs.csv`, for tables whose
run directories are gone: the same cells, with 95% intervals and Welch's t over the seeds
(no paired test: the runs' predictions went with their directories).

`bilstm-sweep table SWEEP --values-from results/<sweep>.runs.csv` rewrites `<sweep>.md`, `.tex`
and `.png` from it and puts the Significance section into `<sweep>.about.md`, leaving the
rest of about.md and the runs.csv itself (the record of how the runs were made) as they are.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import pandas as pd

from bilstm_jax import files
from bilstm_jax.sweeps import plan
from bilstm_jax.sweeps import spec as sweep_lib

SECTION = "## Significance"


def results_from_csv(path: str, table: sweep_lib.Table) -> Callable[[plan.Run], dict | None]:
  """run -> a results dict holding the table's metrics (None for a run the CSV does not list
  as done). A CSV of a one-metric table has a `value` column; of several, one per metric."""
  frame = pd.read_csv(path)
  columns = {metric: (metric if table.metrics else "value") for metric in table.all_metrics}
  missing = sorted({c for c in columns.values() if c not in frame.columns} | (
      {"run_name", "status"} - set(frame.columns)))
  if missing:
    raise ValueError(f"{path} has no column {', '.join(missing)}; it is not the runs.csv of "
                     f"this table (metrics: {', '.join(table.all_metrics)})")
  by_name = {}
  for row in frame.to_dict("records"):
    if row["status"] != "done":
      continue
    values = {m: row[c] for m, c in columns.items()
              if isinstance(row[c], (int, float)) and not math.isnan(row[c])}
    by_name[row["run_name"]] = {**values, "wall_time_s": row.get("wall_time_s"),
                                "git_commit": row.get("git_commit"),
                                "git_dirty": row.get("git_dirty")}
  return lambda run: by_name.get(run.run_name)


def put_section(about_path: str, lines: list[str]) -> None:
  """Replaces about.md's Significance section (to the next '## ' heading), or appends it."""
  text = ""
  if os.path.exists(about_path):
    with open(about_path) as f:
      text = f.read()
  head, found, rest = text.partition(SECTION)
  tail = ""
  if found:
    after = rest.find("\n## ")
    tail = rest[after + 1:] if after >= 0 else ""
  body = head.rstrip("\n") + ("\n\n" if head.strip() else "") + "\n".join(lines) + "\n"
  files.atomic_write_text(about_path, body + ("\n" + tail if tail else ""))
