"""``python -m okrsync``."""

from okrsync.cli.app import main

main()
