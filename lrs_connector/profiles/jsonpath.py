"""The JSONPath subset of xAPI Profiles 1.0 (structure part, section 8.1), compiled ahead of time.

Allowed: an optional leading ``$``; ``.name``; ``.*``; ``..`` (recursive descent); bracket
expressions holding quoted keys (``['https://example.org/ext']``), non-negative integers and
``*``, comma-separated as unions; and whole expressions joined by ``|``. Filters, scripts,
slices and negative indexes are rejected because the spec forbids them.

``|`` is evaluated as the spec says: each alternative runs on the *whole* document and the
results are concatenated (flattened). Some JSONPath libraries instead treat ``|`` as a step
inside the path, which silently returns the wrong values; that is why this module exists.

Values come back in document order as a list. A value that is itself an array is one value:
``$.context.contextActivities.grouping`` returns ``[[{...}, {...}]]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

Step = Callable[[list[Any]], list[Any]]
Evaluator = Callable[[Any], list[Any]]

_NAME_STOP = set(".[]|'\" \t\r\n")


class JSONPathError(ValueError):
    """The text is not a JSONPath expression of the subset the spec allows."""

    def __init__(self, text: str, position: int, message: str) -> None:
        super().__init__(f"{message} at position {position} in {text!r}")
        self.text = text
        self.position = position


class CompiledPath:
    """A parsed JSONPath; ``evaluate(document)`` only walks the document, it never parses.

    ``evaluate`` returns all values found, flattened over ``|`` alternatives. It is a plain
    attribute (the alternative's own function when there is one) to save a call per use.
    """

    __slots__ = ("evaluate", "rooted", "source")

    def __init__(self, source: str, rooted: bool, alternatives: list[Evaluator]) -> None:
        self.source = source
        #: True when every ``|`` alternative starts with ``$`` (the spec's form; lenient mode
        #: accepts paths such as ``result.success`` that omit it).
        self.rooted = rooted
        if len(alternatives) == 1:
            self.evaluate: Evaluator = alternatives[0]
        else:

            def evaluate(document: Any) -> list[Any]:
                out: list[Any] = []
                for alternative in alternatives:
                    out.extend(alternative(document))
                return out

            self.evaluate = evaluate

    def __repr__(self) -> str:
        return f"CompiledPath({self.source!r})"


@functools.lru_cache(maxsize=4096)
def compile_path(text: str) -> CompiledPath:
    """Parse ``text`` once; raises :class:`JSONPathError` with the offending position."""
    if not isinstance(text, str) or not text.strip():
        raise JSONPathError(str(text), 0, "empty JSONPath")
    alternatives = []
    rooted = True
    for start, part in _split_alternatives(text):
        steps, has_root = _Parser(text, part, start).parse()
        rooted = rooted and has_root
        alternatives.append(_build(steps))
    return CompiledPath(text, rooted, alternatives)


def _split_alternatives(text: str) -> list[tuple[int, str]]:
    """Split on ``|`` outside quotes and brackets, keeping each part's offset for errors."""
    parts: list[tuple[int, str]] = []
    depth = 0
    quote: str | None = None
    start = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append((start, text[start:i]))
            start = i + 1
        i += 1
    if quote:
        raise JSONPathError(text, len(text), "unterminated quoted key")
    parts.append((start, text[start:]))
    for offset, part in parts:
        if not part.strip():
            raise JSONPathError(text, offset, "empty alternative around '|'")
    return parts


# A parsed step: ("child", selectors) or ("descend", selectors). Each selector is a str key,
# an int index, or None for the wildcard.
ParsedStep = tuple[str, tuple[str | int | None, ...]]


class _Parser:
    def __init__(self, full: str, part: str, offset: int) -> None:
        self.full = full
        # Strip the whitespace the spec allows around ``|`` but keep error offsets right.
        lead = len(part) - len(part.lstrip())
        self.text = part.strip()
        self.offset = offset + lead
        self.i = 0

    def error(self, message: str) -> JSONPathError:
        return JSONPathError(self.full, self.offset + self.i, message)

    def parse(self) -> tuple[list[ParsedStep], bool]:
        text = self.text
        steps: list[ParsedStep] = []
        has_root = text.startswith("$")
        if has_root:
            self.i = 1
        elif text[0] not in ".[":
            # Lenient form "result.success": the first name has no leading dot.
            steps.append(("child", (self.name(),)))
        while self.i < len(text):
            ch = text[self.i]
            if text.startswith("..", self.i):
                self.i += 2
                if self.i < len(text) and text[self.i] == "[":
                    steps.append(("descend", self.bracket()))
                else:
                    steps.append(("descend", (self.name_or_star(),)))
            elif ch == ".":
                self.i += 1
                steps.append(("child", (self.name_or_star(),)))
            elif ch == "[":
                steps.append(("child", self.bracket()))
            else:
                raise self.error(f"unexpected {ch!r}")
        return steps, has_root

    def name_or_star(self) -> str | None:
        if self.i < len(self.text) and self.text[self.i] == "*":
            self.i += 1
            return None
        return self.name()

    def name(self) -> str:
        start = self.i
        text = self.text
        while self.i < len(text) and text[self.i] not in _NAME_STOP:
            self.i += 1
        if self.i == start:
            raise self.error("expected a property name")
        name = text[start : self.i]
        if name.startswith(("?", "(")):
            raise self.error("filter and script expressions are not allowed")
        return name

    def bracket(self) -> tuple[str | int | None, ...]:
        text = self.text
        self.i += 1  # past "["
        selectors: list[str | int | None] = []
        while True:
            self.skip_space()
            if self.i >= len(text):
                raise self.error("unterminated '['")
            ch = text[self.i]
            if ch in "'\"":
                selectors.append(self.quoted(ch))
            elif ch == "*":
                self.i += 1
                selectors.append(None)
            elif ch.isdigit():
                start = self.i
                while self.i < len(text) and text[self.i].isdigit():
                    self.i += 1
                selectors.append(int(text[start : self.i]))
            elif ch in "?(":
                raise self.error("filter and script expressions are not allowed")
            elif ch == "-":
                raise self.error("negative indexes are not allowed")
            else:
                raise self.error(f"unexpected {ch!r} in brackets")
            self.skip_space()
            if self.i >= len(text):
                raise self.error("unterminated '['")
            if text[self.i] == ",":
                self.i += 1
                continue
            if text[self.i] == "]":
                self.i += 1
                return tuple(selectors)
            if text[self.i] == ":":
                raise self.error("array slices are not allowed")
            raise self.error(f"expected ',' or ']' but found {text[self.i]!r}")

    def quoted(self, quote: str) -> str:
        text = self.text
        self.i += 1
        chars: list[str] = []
        while self.i < len(text):
            ch = text[self.i]
            if ch == "\\" and self.i + 1 < len(text):
                chars.append(text[self.i + 1])
                self.i += 2
                continue
            if ch == quote:
                self.i += 1
                return "".join(chars)
            chars.append(ch)
            self.i += 1
        raise self.error("unterminated quoted key")

    def skip_space(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\r\n":
            self.i += 1


# --- evaluation ---------------------------------------------------------------------------

_MISSING = object()


def _build(steps: list[ParsedStep]) -> Evaluator:
    """Turn parsed steps into one function. The leading run of plain keys (``$.a.b['c']``,
    the common case) is walked with direct dict lookups; only the rest uses step functions."""
    prefix: list[str] = []
    for kind, selectors in steps:
        if kind != "child" or len(selectors) != 1 or type(selectors[0]) is not str:
            break
        prefix.append(selectors[0])
    keys = tuple(prefix)
    if len(keys) == len(steps):
        return _key_chain(keys)
    rest = [_step(kind, selectors) for kind, selectors in steps[len(keys) :]]

    def run(document: Any) -> list[Any]:
        node = document
        for key in keys:
            if type(node) is not dict:
                return []
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return []
        nodes = [node]
        for step in rest:
            nodes = step(nodes)
            if not nodes:
                return nodes
        return nodes

    return run


def _key_chain(keys: tuple[str, ...]) -> Evaluator:
    def run(document: Any) -> list[Any]:
        node = document
        for key in keys:
            if type(node) is not dict:
                return []
            node = node.get(key, _MISSING)
            if node is _MISSING:
                return []
        return [node]

    return run


def _select(node: Any, selectors: tuple[str | int | None, ...], out: list[Any]) -> None:
    for selector in selectors:
        if selector is None:
            if type(node) is dict:
                out.extend(node.values())
            elif type(node) is list:
                out.extend(node)
        elif type(selector) is str:
            if type(node) is dict and selector in node:
                out.append(node[selector])
        elif type(node) is list and selector < len(node):  # int index
            out.append(node[selector])


def _descendants(node: Any, out: list[Any]) -> None:
    out.append(node)
    if type(node) is dict:
        for child in node.values():
            _descendants(child, out)
    elif type(node) is list:
        for child in node:
            _descendants(child, out)


def _step(kind: str, selectors: tuple[str | int | None, ...]) -> Step:
    if kind == "child" and len(selectors) == 1 and type(selectors[0]) is str:
        key = selectors[0]

        def child_key(nodes: list[Any]) -> list[Any]:
            return [n[key] for n in nodes if type(n) is dict and key in n]

        return child_key

    def child(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            _select(node, selectors, out)
        return out

    if kind == "child":
        return child

    def descend(nodes: list[Any]) -> list[Any]:
        everything: list[Any] = []
        for node in nodes:
            _descendants(node, everything)
        return child(everything)

    return descend
