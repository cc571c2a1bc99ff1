"""Errors of the local stack, each with a message a person can act on."""


class StackError(RuntimeError):
    """The local stack could not be started, stopped or inspected."""
