"""``python -m sessionkit_zmq keygen|sim zmq|demo`` (the same commands as under ``sessionkit``)."""

from .cli import main

main(prog_name="python -m sessionkit_zmq")
