"""Consent and erasure are the chain's: a change at one store, or at head office, reaches every store.

Head office on loopback with two linked stores: S001 (the imported database, both backends)
and S002 (a SQLite copy holding the same members). S001's feed carries an erasure and a
withdrawn consent; head office signs a roster pack for S002, which pulls and applies it,
without echoing the erasure back into its own feed.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from db.models import Member, OutboxFact, Pack, StorePack
from db.session import make_engine, make_session_factory
from server.head_office.compiler import add_store
from server.head_office.signing import KEY_ENV, generate_key, public_key_b64
from server.store import chain_feed, loyalty, outbox
from server.store.packs import pull, set_head_office_token
from tests.chain.conftest import Office


@pytest.fixture
def other(office: Office, templates: dict[str, str], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, dict[str, Any]]]:
    """Store S002, linked, with head office's key configured; (engine, config)."""
    from server.head_office.link_secret import KEY_ENV as LINK_KEY_ENV

    key = generate_key(Path(str(tmp_path / "head-office.pem")))
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "head-office.pem"))
    monkeypatch.setenv(LINK_KEY_ENV, str(tmp_path / "link.key"))
    shutil.copy(templates["sqlite-imported"][len("sqlite:///"):], tmp_path / "s2.db")
    eng = make_engine(f"sqlite:///{tmp_path / 's2.db'}")
    with office.session() as ho:
        _, token = add_store(ho, "S002", "Store Two")
        ho.commit()
    with make_session_factory(eng)() as s2:
        set_head_office_token(s2, token)
        s2.commit()
    cfg = {"site": {"store_id": "S002"}, "server": {"head_office_url": office.server.url,
                                                    "head_office_public_key": public_key_b64(key)}}
    yield eng, cfg
    eng.dispose()


def _member(session: Session, which: int = 0) -> Member:
    return list(session.scalars(select(Member).where(Member.consent_personalisation.is_(True))
                                .order_by(Member.id)))[which]


def test_an_erasure_and_a_withdrawn_consent_at_one_store_reach_the_other(
        store: Session, office: Office, other: tuple[Engine, dict[str, Any]]) -> None:
    eng, cfg = other
    gone, quiet = _member(store, 0), _member(store, 1)
    loyalty.erase_member(store, gone.id, "test")
    quiet.consent_personalisation = False
    outbox.record_member(store, quiet)  # as the consent change at the store's desk records it
    store.commit()
    assert chain_feed.ship(store, office.server.url, office.token).error == ""
    with office.session() as ho:
        packs = ho.scalars(select(Pack).where(Pack.store_id == "S002")).all()
        assert [p.action for p in packs] == ["roster"]
        assert ho.scalar(select(func.count()).select_from(Pack).where(Pack.store_id == "S001")) == 0  # not back

    report = pull(eng, cfg)
    assert report.error == "" and report.applied == [1]
    with make_session_factory(eng)() as s2:
        assert s2.get(Member, gone.id).erased_at is not None  # type: ignore[union-attr]
        assert s2.get(Member, quiet.id).consent_personalisation is False  # type: ignore[union-attr]
        assert s2.scalar(select(StorePack.status).where(StorePack.seq == 1)) == "applied"
        assert s2.scalar(select(func.count()).select_from(OutboxFact)) == 0  # no echo into S002's feed
    assert pull(eng, cfg).applied == []  # applied once


def test_an_erasure_at_head_office_reaches_every_store(store: Session, office: Office,
                                                       other: tuple[Engine, dict[str, Any]], tmp_path: Path) -> None:
    from server.head_office.feed import erase_everywhere
    from server.head_office.lake import Lake
    from server.head_office.signing import load_private_key

    eng, cfg = other
    chain_feed.backfill(store)
    chain_feed.ship(store, office.server.url, office.token)
    member = _member(store, 2).id
    with office.session() as ho:
        stores = erase_everywhere(ho, office.lake, load_private_key(tmp_path / "head-office.pem"), member, "test")
        ho.commit()
        assert stores == ["S001", "S002"] and ho.get(Member, member).erased_at is not None  # type: ignore[union-attr]
    assert office.lake.history([member], Lake.EPOCH, Lake.END).empty
    assert pull(eng, cfg).applied == [1, 2]  # the back-filled members' states, then the erasure
    with make_session_factory(eng)() as s2:
        assert s2.get(Member, member).erased_at is not None  # type: ignore[union-attr]
