"""retain_freed_memory: on CPU runs only, and there repeated XLA calls reuse their temp pages."""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from bilstm_jax.training import host_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc malloc options")
def test_retained_memory_stops_the_per_call_page_faults():
  # The probe's temp is 16,384 pages, freed after every call; with the setting the next call
  # reuses them (measured: 0 per call). What the default allocator costs depends on the host,
  # not on us: bilstm-bench reports it (malloc.default_faults_per_call).
  assert host_memory.faults_per_call("retain") < host_memory.PROBE_TEMP_PAGES // 30


@pytest.mark.parametrize("platforms, plugins, on_cpu", [
    ("cpu", [], True),
    ("cpu", ["xla_cuda12"], True),  # asked for the CPU on a GPU machine
    ("cpu,cuda", [], True),
    ("cuda", [], False),
    ("cuda,cpu", [], False),  # the first listed platform is JAX's default backend
    ("gpu", [], False),
    ("tpu", [], False),
    ("rocm", [], False),
    (None, [], True),  # left to JAX, nothing but the CPU is installed
    ("", [], True),
    (None, ["xla_cuda12"], False),  # left to JAX, which would take the GPU if it finds one
    (None, ["libtpu"], False),
])
def test_runs_on_cpu_rule(platforms, plugins, on_cpu):
  assert host_memory.runs_on_cpu(platforms, plugins) is on_cpu


def _child(code, jax_platforms):
  env = {**os.environ, "JAX_PLATFORMS": jax_platforms}
  proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                        text=True, check=False, timeout=300, env=env)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout.split()


@pytest.mark.parametrize("jax_platforms", ["cuda", "tpu", "cuda,cpu"])
def test_not_applied_for_an_accelerator_and_no_backend_started(jax_platforms):
  # This machine has no such device: starting a backend to decide would raise.
  out = _child("""
      from bilstm_jax.training import host_memory
      print(host_memory.jax_platforms(), host_memory.retain_freed_memory())
  """, jax_platforms)
  assert out == [jax_platforms, "False"]


def test_jax_config_decides_once_jax_is_imported():
  """jax.config.update('jax_platforms', ...) after the environment was read still counts."""
  out = _child("""
      import jax
      from bilstm_jax.training import host_memory
      jax.config.update("jax_platforms", "cuda")
      print(host_memory.jax_platforms(), host_memory.retain_freed_memory())
  """, "cpu")
  assert out == ["cuda", "False"]
