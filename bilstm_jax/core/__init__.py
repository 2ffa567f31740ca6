"""The pure-JAX recurrence: one lax.scan over both directions, its VJP, the cuDNN path, interop.

Nothing here imports flax, tensorflow, pandas or wandb.
"""
