"""Baking: the assertion inside its image, as Open Badges 2.0 specifies (and unbaking).

* PNG: one ``iTXt`` chunk with keyword ``openbadges`` (uncompressed, no language), before
  ``IEND``, whose text is the assertion JSON. A chunk already there is replaced.
* SVG: an ``openbadges:assertion`` element (namespace ``http://openbadges.org``) as the first
  child of the root, whose ``verify`` attribute is the assertion URL; the assertion JSON is
  its content, in a CDATA section.

Unbaking reads images we did not make (tests, and anyone's tools), so it bounds what it reads.
"""

from __future__ import annotations

import re
import struct
import zlib
from xml.sax.saxutils import quoteattr

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEYWORD = b"openbadges"
SVG_NAMESPACE = "http://openbadges.org"
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024


class BakingError(ValueError):
    """An image that cannot be baked or unbaked (not a PNG/SVG, damaged, too large)."""


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, CRCs checked."""
    if len(data) > MAX_IMAGE_BYTES:
        raise BakingError(f"image larger than {MAX_IMAGE_BYTES} bytes")
    if not data.startswith(PNG_SIGNATURE):
        raise BakingError("not a PNG image (signature missing)")
    out: list[tuple[bytes, bytes]] = []
    at = len(PNG_SIGNATURE)
    while at < len(data):
        if at + 12 > len(data):
            raise BakingError("PNG chunk cut short")
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + length]
        if len(body) != length or at + 12 + length > len(data):
            raise BakingError(f"PNG chunk {kind!r} cut short")
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise BakingError(f"PNG chunk {kind!r} has a wrong CRC")
        out.append((kind, body))
        at += 12 + length
        if kind == b"IEND":
            break
    if not out or out[-1][0] != b"IEND":
        raise BakingError("PNG has no IEND chunk")
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def _is_ours(kind: bytes, body: bytes) -> bool:
    return kind == b"iTXt" and body.split(b"\x00", 1)[0] == KEYWORD


def bake_png(image: bytes, assertion_json: str) -> bytes:
    """``image`` with the assertion in an ``openbadges`` iTXt chunk just before IEND."""
    text = assertion_json.encode()
    if len(text) > MAX_TEXT_BYTES:
        raise BakingError("assertion too large to bake")
    # keyword, NUL, compression flag 0, method 0, empty language tag NUL, empty
    # translated keyword NUL, then the UTF-8 text
    body = KEYWORD + b"\x00\x00\x00\x00\x00" + text
    parts = [PNG_SIGNATURE]
    for kind, data in _chunks(image):
        if _is_ours(kind, data):
            continue
        if kind == b"IEND":
            parts.append(_chunk(b"iTXt", body))
        parts.append(_chunk(kind, data))
    return b"".join(parts)


def unbake_png(image: bytes) -> str | None:
    """The text of the ``openbadges`` iTXt chunk (the assertion JSON or a URL), or None."""
    for kind, data in _chunks(image):
        if not _is_ours(kind, data):
            continue
        rest = data[len(KEYWORD) + 1 :]
        if len(rest) < 2:
            raise BakingError("openbadges chunk cut short")
        compressed, _method = rest[0], rest[1]
        try:
            _language, _translated, text = rest[2:].split(b"\x00", 2)
        except ValueError:
            raise BakingError("openbadges chunk is not a valid iTXt chunk") from None
        if compressed:
            inflater = zlib.decompressobj()
            text = inflater.decompress(text, MAX_TEXT_BYTES)
            if inflater.unconsumed_tail:
                raise BakingError("openbadges chunk inflates beyond the limit")
        return text.decode("utf-8", errors="strict")
    return None


_ROOT = re.compile(r"<svg\b[^>]*>")


def bake_svg(image: str, verify_url: str, assertion_json: str) -> str:
    """``image`` with ``<openbadges:assertion verify="…">`` first inside the root element."""
    root = _ROOT.search(image)
    if root is None:
        raise BakingError("not an SVG image (no <svg> element)")
    start_tag = root.group(0)
    if "xmlns:openbadges=" not in start_tag:
        start_tag = start_tag[:-1].rstrip("/") + f' xmlns:openbadges="{SVG_NAMESPACE}">'
    # '>' written as its JSON escape keeps any "]]>" in the text from ending the CDATA section
    payload = assertion_json.replace(">", "\\u003e")
    element = (f"<openbadges:assertion verify={quoteattr(verify_url)}>"
               f"<![CDATA[{payload}]]></openbadges:assertion>")
    return image[: root.start()] + start_tag + "\n" + element + image[root.end() :]


def unbake_svg(image: str) -> tuple[str, str | None] | None:
    """(verify URL, assertion JSON or None) of a baked SVG, or None when it is not baked."""
    if len(image) > MAX_IMAGE_BYTES:
        raise BakingError(f"image larger than {MAX_IMAGE_BYTES} bytes")
    if "<!DOCTYPE" in image or "<!ENTITY" in image:
        raise BakingError("SVG with a DOCTYPE or entities is refused")
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(image)
    except ElementTree.ParseError as exc:
        raise BakingError(f"not a well-formed SVG: {exc}") from None
    found = root.find(f"{{{SVG_NAMESPACE}}}assertion")
    if found is None:
        return None
    verify = found.get("verify")
    if not verify:
        raise BakingError("openbadges:assertion without a verify URL")
    text = (found.text or "").strip()
    return verify, text or None
