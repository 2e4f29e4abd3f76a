"""The ZMQ exchange simulator: :func:`serve_simulator` and :class:`ZmqSimulator`.

The core's sans-IO reference exchange served on a ROUTER socket, with its fault knobs. The
command ``sessionkit sim zmq`` (or ``python -m sessionkit_zmq sim zmq``) runs the same.
"""

from ._simulator import ZmqSimulator, serve_simulator

__all__ = ["serve_simulator", "ZmqSimulator"]
