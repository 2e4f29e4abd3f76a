"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

The guides and the docstrings hold their examples as doctests (``>>>`` lines, run by
pytest), not in fenced code blocks. Markdown would run them into the paragraph before them
(and read ``[a]`` followed by ``[b]`` as a link); this hook adds a Markdown preprocessor,
for the pages and for the docstrings mkdocstrings renders, that fences each doctest block
as ``pycon`` code: from its first ``>>>`` line to the next blank line, as doctest reads it.
The docstrings' Sphinx roles (``:class:`~sessionkit.Session```) become code spans
(``Session``), and their double backquotes single ones, as Markdown writes code.
"""

from __future__ import annotations

import re
from typing import Any

from markdown import Markdown
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

_FENCE = re.compile(r"^(\s*)(```|~~~)")
_PROMPT = re.compile(r"^( {0,3})>>> ")
_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj|const):`(~?)([^`]+)`")
_DOUBLE = re.compile(r"``([^`]+)``")


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def _prose(line: str) -> str:
    return _DOUBLE.sub(r"`\1`", _ROLE.sub(_role, line))


class _DoctestBlocks(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        prose: list[str] = []   # the lines since the last code block, changed at its end
        fence: str | None = None   # the marker of the fenced block we are in
        block_indent: str | None = None   # the indent of the doctest block we are in

        def code(line: str) -> None:
            if prose:
                out.extend(_prose("\n".join(prose)).split("\n"))
                prose.clear()
            out.append(line)

        for line in lines:
            if block_indent is not None:
                if line.strip():
                    code(line)
                    continue
                code(block_indent + "```")
                block_indent = None
            if fence is not None:
                if line.strip().startswith(fence):
                    fence = None
                code(line)
                continue
            opened = _FENCE.match(line)
            prompt = _PROMPT.match(line)
            if opened:
                fence = opened.group(2)
                code(line)
            elif prompt:  # (an indented code block's prompts are left as they are)
                block_indent = prompt.group(1)
                if prose and prose[-1].strip():
                    prose.append("")
                code(block_indent + "```pycon")
                code(line)
            else:
                prose.append(line)
        if block_indent is not None:
            code(block_indent + "```")
        code("")
        return out


class DoctestBlocks(Extension):
    """Doctest blocks rendered as ``pycon`` code."""

    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 (Python-Markdown's name)
        # after whitespace normalisation (30), before fenced code blocks are read (25)
        md.preprocessors.register(_DoctestBlocks(md), "sessionkit_doctest_blocks", 27)


def on_config(config: Any) -> Any:
    # the same list mkdocstrings renders docstrings with
    config.markdown_extensions.append(DoctestBlocks())
    return config
