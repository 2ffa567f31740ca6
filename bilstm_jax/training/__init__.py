"""The trainer and what only it uses: loop, evaluation, metrics, optimizer, checkpoints, run files."""
