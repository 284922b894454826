"""Loyalty card barcodes as files: SVG and PNG (python-barcode)."""
from __future__ import annotations

from pathlib import Path

import barcode
from barcode.writer import ImageWriter, SVGWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Member
from server.params import is_digits


class CardError(LookupError):
    """No member matches the card request."""


def find_member(session: Session, ref: str) -> Member:
    """A member by id or by card number."""
    member = session.scalar(select(Member).where(Member.card_number == ref))
    if member is None and is_digits(ref, high_len=8):
        member = session.get(Member, int(ref))
    if member is None:
        raise CardError(f"no member with id or card number {ref!r}; see `shopgo import completejourney`")
    return member


def write_card(card_number: str, out_dir: Path) -> list[Path]:
    """Write the card's EAN-13 barcode as SVG and PNG; return the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = str(out_dir / f"card-{card_number}")
    code_cls = barcode.get_barcode_class("ean13")
    svg = code_cls(card_number[:12], writer=SVGWriter()).save(stem)
    png = code_cls(card_number[:12], writer=ImageWriter()).save(stem)
    return [Path(svg), Path(png)]


def card_svg(card_number: str) -> bytes:
    """The card's EAN-13 barcode as SVG, with its digits under the bars (for a printable card)."""
    return bytes(barcode.get("ean13", card_number, writer=SVGWriter()).render(
        {"module_width": 0.33, "module_height": 15.0, "quiet_zone": 3.0, "font_size": 8, "text_distance": 4.0}))
