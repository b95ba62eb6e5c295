"""``python -m vexport``: the same as the ``vexport`` command."""

from vexport.cli import main

main()
