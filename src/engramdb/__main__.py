"""``python -m engramdb``: the ``engram`` command."""

from engramdb.cli.main import main

main()
