"""Integration tests against real services (a SLURM cluster); see test_slurm.py."""
