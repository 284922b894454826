"""The exit code shown after finish: a Code 128 barcode and a QR code of the trip id, as SVG."""
from __future__ import annotations

import io

import segno
from barcode import Code128
from barcode.writer import SVGWriter


def code128_svg(text: str) -> bytes:
    """A Code 128 barcode of `text` as SVG (no human-readable line: the page prints it)."""
    writer = SVGWriter()
    return bytes(Code128(text, writer=writer).render({"module_width": 0.25, "module_height": 18.0,
                                                      "quiet_zone": 2.5, "write_text": False}))


def qr_svg(text: str) -> bytes:
    """A QR code of `text` as SVG."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=5, border=2)
    return out.getvalue()
