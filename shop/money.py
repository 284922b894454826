"""Money: amounts are integers in minor units (pence, cents) everywhere; this turns them into text.

`format_money(12345, "GBP", 2)` is '£123.45'. Amounts that are means (floats of minor units)
round to the nearest minor unit first, so a mean of -0.4 pence shows as '£0.00', never '-£0.00'.
"""
from __future__ import annotations

SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "DKK": "kr ", "SEK": "kr ", "NOK": "kr "}


def format_money(minor: int | float | None, currency: str = "GBP", exponent: int = 2, *, symbol: bool = True) -> str:
    """Minor units as the currency's amount, e.g. 12345 -> '£123.45' ('123.45' without the symbol); None -> '–'."""
    if minor is None:
        return "–"
    value = int(round(minor))
    sign = "-" if value < 0 else ""
    mark = SYMBOLS.get(currency, currency + " ") if symbol else ""
    if exponent == 0:
        return f"{sign}{mark}{abs(value):,}"
    major, rest = divmod(abs(value), 10 ** exponent)
    return f"{sign}{mark}{major:,}.{rest:0{exponent}d}"


def parse_money(text: str, exponent: int = 2) -> int:
    """Typed money as minor units: '12.50', '12,50' or '£12.5' -> 1250 and '12' -> 1200 (exponent 2); ValueError
    saying what is wrong for anything else (negative, more decimals than the currency has, not a number)."""
    raw = text.strip().lstrip("".join(set("".join(SYMBOLS.values())) - {" "})).strip().replace(",", ".")
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() or len(whole) > 9 or (frac and not frac.isdigit()) or len(frac) > exponent:
        raise ValueError(f"{text!r} is not an amount of money; type it like 12.50")
    return int(whole) * 10 ** exponent + (int(frac.ljust(exponent, "0")) if frac else 0)
