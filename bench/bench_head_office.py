"""Head-office benchmark: a signed campaign pack verified and activated on a store.

Run as `python bench/bench_head_office.py [--quick]`. A store database (SQLite, migrated)
holds N members and the campaign's products; head office compiles one pack for 90% of
them (10% held out). Figures, each beside a baseline measured in the same run:
- verify: Ed25519 check of the pack's signature plus parsing, against parsing alone;
- activate: `apply_pack` (verify, order checks, audience rows, one Offer per member and
  product) against a bare bulk INSERT of the same Offer rows into a copy of the database.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, print_table, row  # noqa: E402

PRODUCTS = 10
TARGET_ACTIVATE_RATIO = 2.0  # activation may cost at most twice the bare insert it must do anyway
TARGET_VERIFY_MS = 50.0


def _seed(url: str, members: int) -> None:
    from db.migrate import upgrade
    from db.models import Member, Product, Store
    from db.session import make_engine, make_session_factory

    upgrade(url)
    eng = make_engine(url)
    with make_session_factory(eng)() as s:
        s.add(Store(id="S001", name="Bench"))
        s.flush()
        s.add_all([Product(id=p, gtin=f"2{p:012d}", name=f"P{p}", price_minor=100) for p in range(1, PRODUCTS + 1)])
        s.add_all([Member(id=m, card_number=f"9{m:012d}", store_id="S001", consent_personalisation=True)
                   for m in range(1, members + 1)])
        s.commit()
    eng.dispose()


def run(quick: bool = False) -> list[Row]:
    """Measure pack verification and activation against their baselines."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import insert

    from db.models import Offer
    from db.session import make_engine, make_session_factory
    from server.head_office.compiler import pack_document
    from server.head_office.definition import parse_definition
    from server.head_office.signing import canonical, load_public_key, public_key_b64, sign, verify
    from server.store.packs import apply_pack

    members = 2_000 if quick else 20_000
    now = datetime.now(timezone.utc)
    key = Ed25519PrivateKey.generate()
    d = parse_definition({"name": "Bench", "product_ids": list(range(1, PRODUCTS + 1)),
                          "reward": {"type": "percent", "value": 10}, "valid_from": now.isoformat(),
                          "valid_to": (now + timedelta(days=14)).isoformat(), "stores": ["S001"]})
    exposed = [m for m in range(1, members + 1) if m % 10]
    holdout = [m for m in range(1, members + 1) if not m % 10]
    body = canonical(pack_document("S001", 1, 1, 1, "activate", d, d["product_ids"], exposed, holdout, now))
    signature = sign(key, body)
    public = load_public_key(public_key_b64(key))
    import json

    reps = 20 if quick else 50
    t0 = time.perf_counter()
    for _ in range(reps):
        verify(public, body, signature)
    verify_ms = (time.perf_counter() - t0) / reps * 1000
    t0 = time.perf_counter()
    for _ in range(reps):
        json.loads(body)
    parse_ms = (time.perf_counter() - t0) / reps * 1000
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "store.db"
        _seed(f"sqlite:///{base}", members)
        shutil.copy(base, Path(tmp) / "bare.db")
        cfg = {"site": {"store_id": "S001"}, "server": {"head_office_public_key": public_key_b64(key)}}
        eng = make_engine(f"sqlite:///{base}")
        with make_session_factory(eng)() as s:
            t0 = time.perf_counter()
            pack = apply_pack(s, cfg, body, signature, now=now)
            s.commit()
            activate_s = time.perf_counter() - t0
        eng.dispose()
        assert pack.status == "activated", pack.reason
        rows = [{"member_id": m, "product_id": p, "kind": "campaign", "reward_type": "percent", "reward_value": 10,
                 "score": 0.0, "valid_from": now, "valid_to": now + timedelta(days=14), "campaign_id": None,
                 "max_redemptions": 1, "created_at": now} for m in exposed for p in range(1, PRODUCTS + 1)]
        eng = make_engine(f"sqlite:///{Path(tmp) / 'bare.db'}")
        with make_session_factory(eng)() as s:
            t0 = time.perf_counter()
            for i in range(0, len(rows), 5000):
                s.execute(insert(Offer), rows[i:i + 5000])
            s.commit()
            bare_s = time.perf_counter() - t0
        eng.dispose()
    return [
        row("head_office", f"verify pack ({members:,} members)", verify_ms, "ms", "json.loads alone", parse_ms,
            f"<= {TARGET_VERIFY_MS:.0f} ms", verify_ms <= TARGET_VERIFY_MS),
        row("head_office", f"activate pack ({pack.offers_written:,} offers)", activate_s, "s",
            "bare bulk INSERT of the offers", bare_s, f"<= {TARGET_ACTIVATE_RATIO:.0f}x baseline",
            activate_s <= TARGET_ACTIVATE_RATIO * bare_s),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 members instead of 20,000")
    print_table(run(parser.parse_args().quick), "head office: signed campaign packs")


if __name__ == "__main__":
    main()
