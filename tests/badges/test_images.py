"""Badge images: accessible SVG, legible PNG, and baking the assertion into both."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ElementTree
import zlib

import orjson
import pytest
from PIL import Image

from lrs_connector.badges import baking, images

LEVELS = (("not ready", 0.0), ("emerging", 25.0), ("developing", 50.0), ("ready", 80.0))
SVG_NS = "{http://www.w3.org/2000/svg}"
ASSERTION = {
    "@context": "https://w3id.org/openbadges/v2",
    "type": "Assertion",
    "id": "https://connector.example.org/badges/assertions/0f3a4720-cd40-484d-9369-b3aa730d1956",
    "evidence": {"narrative": "a text with ]]> and <tags> & ampersands"},
}


def _badge(**changes) -> images.Badge:
    values = {"date": "2026-11-20", "issuer": "Example Academy"}
    values.update(changes)
    return images.badge_for("Director of learning and development", "developing", LEVELS,
                            **values)


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_colours_keep_text_legible():
    for colour in images.PALETTE:
        assert _contrast(colour, images.WHITE) >= 4.5, colour
    assert _contrast(images.INK, images.WHITE) >= 12


def test_svg_is_an_accessible_image_with_role_level_and_date():
    text = images.svg(_badge())
    root = ElementTree.fromstring(text)
    assert root.tag == SVG_NS + "svg" and root.get("role") == "img"
    title = root.find(SVG_NS + "title")
    desc = root.find(SVG_NS + "desc")
    assert title.text == "Director of learning and development \u2014 developing"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "2026-11-20" in desc.text and "Example Academy" in desc.text
    words = [t.text for t in root.iter(SVG_NS + "text")]
    assert "DEVELOPING" in words and "2026-11-20" in words
    assert [
        w for w in words if w in ("Director of", "learning and", "development")
    ] == ["Director of", "learning and", "development"]


def test_class_image_has_no_date_and_hostile_names_stay_text():
    hostile = images.badge_for('<script>alert(1)</script> & "Co"\x00', "ready", LEVELS)
    text = images.svg(hostile)
    root = ElementTree.fromstring(text)  # still well-formed
    assert "<script>" not in text and not list(root.iter(SVG_NS + "script"))
    assert "\x00" not in text
    assert root.find(SVG_NS + "title").text.startswith('<script>alert(1)</script> & "Co"')
    assert "awarded" not in root.find(SVG_NS + "desc").text


def test_wrapping_bounds_long_names():
    lines = images.wrap("A very long role name that will never fit in three lines of a badge")
    assert len(lines) == 3 and lines[-1].endswith("\u2026")
    assert all(len(line) <= images._ROLE_CHARS for line in lines)
    assert images.wrap("Supercalifragilisticexpialidocious") == ["Supercalifragili\u2026"]


def test_png_is_square_and_drawn():
    data = images.png(_badge())
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "PNG" and picture.size == (images.PNG_SIZE, images.PNG_SIZE)
    rgba = picture.convert("RGBA")
    assert rgba.getpixel((2, 2))[3] == 0  # transparent corner
    centre_band = {rgba.getpixel((x, 330)) for x in range(60, 450, 3)}
    assert (255, 255, 255, 255) in centre_band  # the white level band…
    assert any(p[0] < 60 and p[1] < 60 and p[2] < 60 for p in centre_band)  # …with dark text


def test_png_unbakes_to_the_assertion():
    text = orjson.dumps(ASSERTION).decode()
    baked = baking.bake_png(images.png(_badge()), text)
    assert orjson.loads(baking.unbake_png(baked)) == ASSERTION
    assert Image.open(io.BytesIO(baked)).size == (images.PNG_SIZE, images.PNG_SIZE)
    # baking again replaces the chunk rather than adding a second one
    again = baking.bake_png(baked, '{"id": "other"}')
    assert again.count(b"iTXtopenbadges") == 1 and baking.unbake_png(again) == '{"id": "other"}'
    assert baking.unbake_png(images.png(_badge())) is None


def test_png_chunk_layout_follows_the_baking_spec():
    baked = baking.bake_png(images.png(_badge()), "{}")
    chunks = baking._chunks(baked)
    kinds = [kind for kind, _ in chunks]
    assert kinds[-2:] == [b"iTXt", b"IEND"] and kinds[0] == b"IHDR"
    body = chunks[-2][1]
    assert body == b"openbadges\x00\x00\x00\x00\x00{}"


def test_damaged_pngs_are_refused():
    png = images.png(_badge())
    with pytest.raises(baking.BakingError, match="signature"):
        baking.unbake_png(b"GIF89a" + png)
    broken = bytearray(png)
    broken[40] ^= 0xFF
    with pytest.raises(baking.BakingError, match="CRC"):
        baking.unbake_png(bytes(broken))
    with pytest.raises(baking.BakingError):
        baking.unbake_png(png[:-12])  # no IEND


def test_compressed_chunks_are_read_within_bounds():
    text = b'{"id": "x"}'
    body = b"openbadges\x00\x01\x00\x00\x00" + zlib.compress(text)
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    png = images.png(_badge())
    at = png.rindex(b"\x00\x00\x00\x00IEND")
    assert baking.unbake_png(png[:at] + chunk + png[at:]) == text.decode()


def test_svg_bakes_the_verify_url_and_the_assertion():
    text = orjson.dumps(ASSERTION).decode()
    baked = baking.bake_svg(images.svg(_badge()), ASSERTION["id"], text)
    root = ElementTree.fromstring(baked)
    first = next(iter(root))
    assert first.tag == "{http://openbadges.org}assertion"
    assert first.get("verify") == ASSERTION["id"]
    verify, content = baking.unbake_svg(baked)
    assert verify == ASSERTION["id"] and orjson.loads(content) == ASSERTION
    assert root.get("role") == "img"  # still the accessible image
    assert baking.unbake_svg(images.svg(_badge())) is None
    with pytest.raises(baking.BakingError):
        baking.unbake_svg('<!DOCTYPE svg [<!ENTITY a "b">]><svg/>')
