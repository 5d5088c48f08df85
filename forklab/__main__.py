"""``python -m forklab``: the same command as the ``forklab`` script."""
from forklab.cli import main

raise SystemExit(main())
