"""A store's feed batch as head office reads it: every value checked before anything is written.

The wire format (written by server/store/chain_feed.py's `wire_batch`) keeps purchases and
their lines in columns, so that two million lines are checked and turned into lake rows by
Arrow's C loops, not one Python call per value:

    {"seq": 7,
     "purchases": {"purchase_id": [...], "member_id": [... or null], "purchased_at": [RFC 3339, ...],
                   "lines": [how many lines each purchase has, ...]},
     "lines": {"product_id": [...], "quantity": [...], "weight_g": [... or null],
               "sales_minor": [...], "discount_minor": [...]},
     "redemptions": [{"purchase_id", "offer_id", "campaign_id", "discount_minor", "points"}, ...],
     "cards": [{"purchase_id", "card_number"}, ...],   (guests' purchases made on an unchecked card)
     "members": [{"member_id", "card_number", "store_id", "tier", "consent", "erased", "joined_at"}, ...],
     "erasures": [{"member_id", "at"}, ...],
     "backlog": {"facts", "lines", "caught_up_at"}}

The lines belong to the purchases in order (the first `lines[0]` to the first purchase, and
so on). A refusal is a CampaignError naming the first bad value, such as
"lines.sales_minor[17] must be a whole number from -2147483647 to 2147483647, not 'x'".
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from server.head_office.definition import CampaignError, body_number
from server.params import MAX_ID, storable
from server.store.schemas import RFC3339, parse_time

MAX_FACTS = 5_000  # purchases, members and erasures in one batch
MAX_LINES = 50_000
MONEY = 2**31 - 1
BIG_ID = 2**63 - 1
LINE_COLUMNS = (("product_id", 1, MAX_ID, False), ("quantity", -MONEY, MONEY, False), ("weight_g", 0, MONEY, True),
                ("sales_minor", -MONEY, MONEY, False), ("discount_minor", -MONEY, MONEY, False))
UTC_MICROS = pa.timestamp("us", tz="UTC")
EARLIEST, LATEST = "0001-01-02", "9999-12-30"  # a day inside the years any database and datetime can hold


@dataclass(frozen=True)
class Batch:
    """A checked batch: purchases and lines as Arrow columns, the rest as plain values."""

    seq: int
    purchases: pa.Table  # purchase_id, member_id, purchased_at (UTC), lines
    lines: pa.Table  # LINE_COLUMNS, in purchase order
    redemptions: list[dict[str, int]]
    cards: dict[int, str]  # purchase id -> the card a guest's purchase was made on (head office attributes it)
    members: list[dict[str, Any]]
    erasures: list[dict[str, Any]]
    backlog: dict[str, Any]

    @property
    def facts(self) -> int:
        return self.purchases.num_rows + len(self.members) + len(self.erasures)


def read_batch(body: Mapping[str, Any]) -> Batch:
    """The batch in `body`, checked whole (CampaignError names the first bad value)."""
    seq = _whole(body.get("seq"), "seq", 0, MAX_ID)
    purchases = _purchases(_object(body.get("purchases", {"purchase_id": [], "member_id": [], "purchased_at": [],
                                                         "lines": []}), "purchases"))
    counts = purchases.column("lines")
    total = pc.sum(counts).as_py() or 0
    if total > MAX_LINES:
        raise CampaignError(f"a batch carries at most {MAX_LINES} purchase lines, not {total}")
    lines = _lines(_object(body.get("lines", {name: [] for name, *_ in LINE_COLUMNS}), "lines"), total)
    members = [_member(m, f"members[{i}]") for i, m in enumerate(_list(body.get("members", []), "members"))]
    erasures = [{"member_id": _whole(_object(e, f"erasures[{i}]").get("member_id"), f"erasures[{i}].member_id", 1,
                                     MAX_ID), "at": _time(e.get("at"), f"erasures[{i}].at")}
                for i, e in enumerate(_list(body.get("erasures", []), "erasures"))]
    ids = set(purchases.column("purchase_id").to_pylist())
    redemptions = [_redemption(r, f"redemptions[{i}]", ids)
                   for i, r in enumerate(_list(body.get("redemptions", []), "redemptions"))]
    cards = {}
    for i, raw in enumerate(_list(body.get("cards", []), "cards")):
        c = _object(raw, f"cards[{i}]")
        purchase = _whole(c.get("purchase_id"), f"cards[{i}].purchase_id", 1, BIG_ID)
        if purchase not in ids:
            raise CampaignError(f"cards[{i}].purchase_id names no purchase of this batch")
        cards[purchase] = _text(c.get("card_number"), f"cards[{i}].card_number", 14)
    batch = Batch(seq, purchases, lines, redemptions, cards, members, erasures, _backlog(body.get("backlog")))
    if batch.facts > MAX_FACTS:
        raise CampaignError(f"a batch carries at most {MAX_FACTS} purchases, members and erasures, not {batch.facts}")
    return batch


def _purchases(cols: Mapping[str, Any]) -> pa.Table:
    n = len(_list(cols.get("purchase_id"), "purchases.purchase_id"))
    table = pa.table({"purchase_id": _ints(cols.get("purchase_id"), "purchases.purchase_id", 1, BIG_ID, n=n),
                      "member_id": _ints(cols.get("member_id"), "purchases.member_id", 1, MAX_ID, n=n, nullable=True),
                      "purchased_at": _times(cols.get("purchased_at"), "purchases.purchased_at", n),
                      "lines": _ints(cols.get("lines"), "purchases.lines", 0, MAX_LINES, n=n)})
    if pc.count_distinct(table.column("purchase_id")).as_py() != n:
        raise CampaignError("purchases.purchase_id holds a purchase twice")
    return table


def _lines(cols: Mapping[str, Any], n: int) -> pa.Table:
    return pa.table({name: _ints(cols.get(name), f"lines.{name}", low, high, n=n, nullable=nullable)
                     for name, low, high, nullable in LINE_COLUMNS})


def _ints(values: Any, name: str, low: int, high: int, n: int, nullable: bool = False) -> pa.Array:
    """A column of JSON integers (11.0 counts as 11) within [low, high], as int64."""
    if not isinstance(values, list) or len(values) != n:
        raise CampaignError(f"{name} must be a list of {n} whole numbers (one per "
                            f"{'line' if name.startswith('lines.') else 'purchase'})")
    try:
        column = pa.array(values)
        if pa.types.is_null(column.type):
            column = pa.nulls(n, pa.int64())
        elif pa.types.is_floating(column.type) and pc.all(pc.equal(column, pc.floor(column))).as_py() is False:
            column = None  # 2.5: not a whole number
        elif not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            column = None  # text, true, lists, objects
        column = None if column is None else column.cast(pa.int64())
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        column = None
    if column is not None and (nullable or column.null_count == 0):
        low_high = pc.min_max(column).as_py()
        if low_high["min"] is None or (low <= low_high["min"] and low_high["max"] <= high):
            return column
    for i, value in enumerate(values):  # the slow path, only to name the first bad value
        if value is not None or not nullable:
            _whole(value, f"{name}[{i}]", low, high)
    raise CampaignError(f"{name} must hold whole numbers from {low} to {high}")  # pragma: no cover - found above


def _times(values: Any, name: str, n: int) -> pa.Array:
    """A column of RFC 3339 times with an offset, as UTC microseconds."""
    if not isinstance(values, list) or len(values) != n:
        raise CampaignError(f"{name} must be a list of {n} RFC 3339 times (one per purchase)")
    try:
        text = pa.array(values, pa.string())
        if text.null_count == 0 and (n == 0 or pc.all(pc.match_substring_regex(
                text, f"^(?:{RFC3339.pattern})$")).as_py()) and (n == 0 or (
                pc.min(text).as_py() >= EARLIEST and pc.max(text).as_py() <= LATEST)):
            return text.cast(UTC_MICROS)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    # Arrow's parser takes neither a lower-case "t" nor "z"; RFC 3339 does: read them one by one
    return pa.array([_time(value, f"{name}[{i}]") for i, value in enumerate(values)], UTC_MICROS)


def _redemption(raw: Any, name: str, purchases: set[int]) -> dict[str, int]:
    r = _object(raw, name)
    out = {"purchase_id": _whole(r.get("purchase_id"), f"{name}.purchase_id", 1, BIG_ID),
           "offer_id": _whole(r.get("offer_id"), f"{name}.offer_id", 1, MAX_ID),
           "campaign_id": _whole(r.get("campaign_id"), f"{name}.campaign_id", 1, MAX_ID),
           "discount_minor": _whole(r.get("discount_minor"), f"{name}.discount_minor", 0, MONEY),
           "points": _whole(r.get("points"), f"{name}.points", 0, MONEY)}
    if out["purchase_id"] not in purchases:
        raise CampaignError(f"{name}.purchase_id names no purchase of this batch")
    return out


def _member(raw: Any, name: str) -> dict[str, Any]:
    data = _object(raw, name)
    return {"member_id": _whole(data.get("member_id"), f"{name}.member_id", 1, MAX_ID),
            "card_number": _text(data.get("card_number"), f"{name}.card_number", 14),
            "store_id": _text(data.get("store_id"), f"{name}.store_id", 32),
            "tier": _text(data.get("tier"), f"{name}.tier", 16),
            "consent": _flag(data.get("consent", False), f"{name}.consent"),
            "erased": _flag(data.get("erased", False), f"{name}.erased"),
            "joined_at": _time(data.get("joined_at"), f"{name}.joined_at")}


def _backlog(value: Any) -> dict[str, Any]:
    data = _object(value, "backlog")
    return {"facts": _whole(data.get("facts"), "backlog.facts", 0, MONEY),
            "lines": _whole(data.get("lines"), "backlog.lines", 0, MONEY),
            "caught_up_at": _time(data.get("caught_up_at"), "backlog.caught_up_at")}


def _whole(value: Any, name: str, low: int, high: int) -> int:
    return body_number(value, name, low=low, high=high)


def _time(value: Any, name: str) -> datetime:
    moment = parse_time(value) if isinstance(value, str) and len(value) <= 40 else None
    if moment is None:
        raise CampaignError(f"{name} must be an RFC 3339 (ISO 8601) time with a UTC offset, not {str(value)[:40]!r}")
    return moment


def _text(value: Any, name: str, longest: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= longest or not storable(value):
        raise CampaignError(f"{name} must be a text of 1 to {longest} characters (no NUL)")
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise CampaignError(f"{name} must be true or false")
    return value


def _object(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise CampaignError(f"{name} must be an object")
    return value


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > max(MAX_FACTS, MAX_LINES):
        raise CampaignError(f"{name} must be a list")
    return value
