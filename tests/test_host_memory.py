"""retain_freed_memory: repeated XLA calls reuse their temp pages instead of faulting them in."""

import subprocess
import sys
import textwrap

import pytest

# A jitted call whose 64 MiB hidden activation is an XLA temp (only a sum leaves the call).
CHILD = textwrap.dedent("""
    import resource, sys
    from bilstm_jax.training import host_memory
    if sys.argv[1] == "retain":
      assert host_memory.retain_freed_memory()
    import jax, jax.numpy as jnp
    f = jax.jit(lambda x, w: jnp.tanh(jnp.tanh(x @ w) @ w.T).sum())
    x, w = jnp.ones((8192, 256)), jnp.ones((256, 2048))
    for _ in range(3):
      f(x, w).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
      f(x, w).block_until_ready()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
""")


def _faults_per_call(mode):
  out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                       timeout=300, check=True).stdout
  return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc options")
def test_retained_memory_stops_the_per_call_page_faults():
  # 64 MiB is 16,384 pages: without the options every call maps and faults them in again.
  assert _faults_per_call("default") > 8000
  assert _faults_per_call("retain") < 500

