"""``python -m patchwarden``: the same as the ``patchwarden`` command."""

from patchwarden.cli.main import main

main()
