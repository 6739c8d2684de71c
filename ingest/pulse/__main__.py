"""`python -m pulse` is the `pulse` CLI (used by the stack to spawn services with this interpreter)."""

from pulse.cli import main

main()
