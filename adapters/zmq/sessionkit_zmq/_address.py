"""Checking ZeroMQ endpoint addresses where they enter (a connector, a bind).

libzmq takes many bad addresses without a word: a connect to port 0, 70000 or an empty host
is accepted and then retried until the connect timeout, and a bind to port 70000 or -1
quietly binds port 4464 or 65535 (the number wrapped). So the adapter checks an address
before libzmq sees it, and a bad one is a :class:`~sessionkit.ConfigError` naming it.
"""

from __future__ import annotations

from sessionkit import ConfigError

__all__ = ["check_endpoint", "split_tcp_endpoint"]

#: transports a DEALER can reach in another context (``inproc`` is one context only)
TRANSPORTS = ("tcp", "ipc")


def split_tcp_endpoint(endpoint: str, *, what: str = "endpoint",
                       bind: bool = False) -> tuple[str, int]:
    """``(host, port)`` of ``tcp://HOST:PORT``; a bind may use port ``*`` or 0 (returned
    as 0) and host ``*``. Raises ConfigError naming the value.

    >>> split_tcp_endpoint("tcp://127.0.0.1:5555")
    ('127.0.0.1', 5555)
    >>> split_tcp_endpoint("tcp://127.0.0.1:70000", what="connector")
    Traceback (most recent call last):
    ...
    sessionkit._errors.ConfigError: connector 'tcp://127.0.0.1:70000': port 70000 is out of range...
    """
    rest = endpoint[len("tcp://"):] if endpoint.startswith("tcp://") else ""
    host, sep, port_text = rest.rpartition(":")
    form = "tcp://HOST:PORT" + (" (PORT * or 0 for any free port)" if bind else "")
    if not endpoint.startswith("tcp://") or not sep or not host or any(c.isspace()
                                                                       for c in rest):
        raise ConfigError(f"{what} {endpoint!r} must look like {form}")
    if host == "*" and not bind:
        raise ConfigError(f"{what} {endpoint!r}: host * is for a bind; a connector needs the "
                          f"server's host name or address")
    if bind and port_text in ("*", "0"):
        return host, 0
    if not port_text.isdigit():
        raise ConfigError(f"{what} {endpoint!r}: port {port_text!r} is not a number ({form})")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{what} {endpoint!r}: port {port} is out of range (1-65535)")
    return host, port


def check_endpoint(endpoint: object, *, what: str = "endpoint", bind: bool = False) -> str:
    """``endpoint`` when libzmq can use it (``tcp://HOST:PORT`` or ``ipc://PATH``), else
    ConfigError naming the value and what is wrong with it."""
    if not isinstance(endpoint, str):
        raise ConfigError(f"{what} must be a string like tcp://HOST:PORT, got "
                          f"{type(endpoint).__name__} {endpoint!r}")
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in TRANSPORTS:
        raise ConfigError(f"{what} {endpoint!r} must look like tcp://HOST:PORT (or "
                          f"ipc://PATH)")
    if scheme == "tcp":
        split_tcp_endpoint(endpoint, what=what, bind=bind)
    elif not rest or rest != rest.strip():
        raise ConfigError(f"{what} {endpoint!r}: ipc:// needs a path")
    return endpoint
