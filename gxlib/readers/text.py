"""Plain-text captures (.txt, .md): decoded strictly, tables as found."""
from __future__ import annotations

from pathlib import Path

from . import Document
from .decode import decode


def read(data: bytes, path: Path | None = None) -> Document:
    text, enc = decode(data)
    return Document(text=text.replace("\r\n", "\n").replace("\r", "\n"), format="text", notes=[f"encoding {enc}"])
