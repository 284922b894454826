"""The exit code shown after finish: a QR code of the trip id as SVG (segno), which a till's
scanner reads in one go; the page prints the id under it for typing by hand."""
from __future__ import annotations

import io

import segno


def qr_svg(text: str) -> bytes:
    """A QR code of `text` as SVG."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=8, border=4)
    return out.getvalue()
