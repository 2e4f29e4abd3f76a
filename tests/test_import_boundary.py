"""The core is sans-IO: importing it (and its test doubles) loads no I/O library."""

from __future__ import annotations

import subprocess
import sys

IO_MODULES = ["trio", "zmq", "websockets", "trio_websocket", "httpx", "socket", "asyncio",
              "threading_unused_marker"]


def test_core_imports_no_io_library() -> None:
    code = (
        "import sys; import sessionkit, sessionkit.testing;"
        f"print([m for m in {IO_MODULES!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"the sans-IO core pulled in {out}"
