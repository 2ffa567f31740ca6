"""What `bilstm-bench` prints: the Markdown table of one shape (its record: bench/cli.py)."""

from __future__ import annotations

import statistics

import numpy as np


def _fmt(ms: float) -> str:
  return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2g}" if ms < 0.1 \
      else f"{ms:.2f}"


def format_table(result: dict) -> str:
  """Markdown: one row per system, median ms and ratios to bilstm_jax and to the floor."""
  shape = result["shape"]
  lines = [f"B={shape['batch']} T={shape['steps']} D={shape['features']} H={shape['units']} "
           f"layers={shape['layers']} classes={shape['classes']}, {result['lengths']} lengths "
           f"({result['tokens']} valid tokens), median of {result['repeats']} round-robin steps",
           ""]
  header, rule = "| system |", "|---|"
  for mode in result["median_ms"]:
    header += f" {mode} ms | {mode} / ours | {mode} / floor |"
    rule += "---:|---:|---:|"
  lines += [header, rule]
  for name in result["check"]:
    row = f"| {name} |"
    for mode, medians in result["median_ms"].items():
      ms, ours = medians[name], medians["bilstm_jax"]
      row += f" {_fmt(ms)} | {ms / ours:.2f} | {ms / result['floor_ms'][mode]:.1f} |"
    lines.append(row)
  floors = ", ".join(f"{mode} {_fmt(result['floor_ms'][mode])} ms "
                     f"({result['flops'][mode] / 1e9:.3g} GFLOP)" for mode in result["median_ms"])
  # On a GPU the default precision of a float32 matmul is TF32: say which rate the floor used.
  lines += ["", f"floor: {floors} at {result['matmul']['best_gflops']:.1f} GFLOP/s (best jitted "
            f"{result['matmul']['size']}^2 float32 matmul, "
            f"{result.get('matmul_precision', 'default')} precision)"]
  # Another process on the cores slows some systems far more than others (OpenMP barriers);
  # flag rows whose slow rounds could move the median, so such a table gets re-run.
  noisy = [f"{name} {mode} (p90 {_fmt(np.percentile(ts, 90))} ms)"
           for mode, by_name in result["times_ms"].items() for name, ts in by_name.items()
           if np.percentile(ts, 90) > 1.5 * statistics.median(ts)]
  lines += [f"noisy (p90 > 1.5 x median; re-run when the machine is quieter): {', '.join(noisy)}"
            if noisy else "no row is noisy (every p90 <= 1.5 x its median)", "",
            "| system | max abs out diff | abs loss diff | max rel grad diff | how |",
            "|---|---:|---:|---:|---|"]
  for name, check in result["check"].items():
    lines.append(f"| {name} | {check['output_max_abs_diff']:.1e} | {check['loss_abs_diff']:.1e} "
                 f"| {check['grad_max_rel_diff']:.1e} | {result['how'][name]} |")
  return "\n".join(lines)
