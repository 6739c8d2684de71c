"""Errors an operator can act on: the CLI prints their message alone, never a traceback."""


class PulseError(Exception):
    """A failure with a message that names the problem and, where possible, the fix."""
