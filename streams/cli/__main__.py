"""``python -m streams.cli``: the ``pumpstream`` command (how child processes start workers)."""

from streams.cli.main import main

main()
