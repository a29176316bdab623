"""The one JSON-lines reader of engramdb (``engram import`` and ``Memory.import_jsonl``).

A line ends at "\\n" and nowhere else. ``str.splitlines()`` also breaks at
U+2028, U+2029, U+0085, \\x0b, \\x0c and \\x1c-\\x1e, and JSON allows the first
three raw inside strings (``json.dumps(..., ensure_ascii=False)`` writes them
as they are), so an export of such content would not read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from engramdb.core.errors import ValidationError


def split_lines(text: str) -> list[str]:
    """The lines of a JSONL text: split on "\\n" only; the "\\r" of a CRLF line end is dropped."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def numbered_lines(source: str | Iterable[str]) -> Iterator[tuple[int, str]]:
    """(number, line) of a whole text, or of its pieces (an open file, a list of lines), each
    piece split again on "\\n" only, so line numbers count real lines."""
    pieces = [source] if isinstance(source, str) else source
    number = 0
    for piece in pieces:
        if not isinstance(piece, str):
            raise ValidationError(f"JSON lines are text, got {type(piece).__name__} (open the file in text mode)")
        for line in split_lines(piece):
            number += 1
            yield number, line
