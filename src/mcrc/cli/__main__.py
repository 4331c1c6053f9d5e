"""`python -m mcrc.cli`: the `mcrc` command."""

from mcrc.cli import main

main()
