"""Permet `python -m opsn`."""

from opsn.cli import main

main()
