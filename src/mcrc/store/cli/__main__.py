"""`python -m mcrc.store.cli`: the case store's commands on their own."""

from mcrc.store.cli import main

main()
