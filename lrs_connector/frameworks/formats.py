"""Reading a framework from either format: a 1EdTech CASE package or a native document."""

from __future__ import annotations

from lrs_connector.frameworks import case, documents
from lrs_connector.frameworks.model import Framework

FORMATS = ("auto", "case", "native")


def read(text: str | bytes, fmt: str = "auto") -> tuple[Framework, str]:
    """A checked framework from JSON text; returns (framework, source for storage:
    ``case`` or ``file``). ``auto`` takes a document with a ``CFDocument`` for CASE."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    data = documents.parse_json(text)
    if fmt == "case" or (fmt == "auto" and case.is_package(data)):
        return case.framework_from_package(data), "case"
    return documents.framework_from_document(data), "file"
