"""bilstm_jax: a fast scanned bidirectional LSTM in JAX, with Flax models, a trainer and sweeps.

The public API is re-exported here; the code lives in core/ (the pure-JAX recurrence), models/,
data/, training/, sweeps/ and bench/.
"""

from bilstm_jax.core import interop
from bilstm_jax.core.crf import bio_allowed_transitions, crf_decode, crf_log_likelihood
from bilstm_jax.core.lstm import MERGE_MODES, bilstm, init_params, merged_size

__all__ = [
    "MERGE_MODES", "bilstm", "bio_allowed_transitions", "crf_decode", "crf_log_likelihood",
    "init_params", "interop", "merged_size",
]
__version__ = "0.1.0"
