"""The error the slam_nodes types raise for values they cannot hold."""

from slam_nodes.errors import SlamNodesError


class InvalidValueError(SlamNodesError, ValueError):
    """A type was given values it cannot hold: arrays of different lengths, an image whose
    size differs from its camera's, a non-positive camera size, a stamp that is not a number.

    A SlamNodesError (the CLI reports it as one line) and a ValueError (code that catches
    ValueError keeps working)."""
