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


def test_adapters_import_only_public_sessionkit_modules() -> None:
    """An adapter is a third party to the core: it imports ``sessionkit`` modules whose dotted
    path has no private (``_``) part, so that the core may change its insides freely."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "adapters"
    offending = []
    for path in sorted(root.glob("*/sessionkit_*/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level \
                else [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if parts[0] == "sessionkit" and any(p.startswith("_") for p in parts[1:]):
                    offending.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    assert sorted(root.glob("*/sessionkit_*/**/*.py")), "no adapter sources found"
    assert not offending, "adapters import private sessionkit modules:\n" + "\n".join(offending)
