"""A head office with two linked stores, each sent one campaign of its own, served in-process.

Used by the head-office attack tests in tests/security: store S001 got pack 1 for campaign
`mine`, store S002 got pack 1 for campaign `theirs`; both campaigns have a budget of one
redemption, so one counted redemption would withdraw the campaign.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from db.models import Campaign, CampaignResult, Pack, ResultBatch, StoreLink
from db.session import make_engine, make_session_factory
from server.head_office import campaigns
from server.head_office.compiler import add_store
from server.head_office.signing import KEY_ENV, generate_key
from tests.conftest import app_config
from tests.head_office.conftest import definition, seed_chain
from tests.loopback import dispose_when_idle


@dataclass
class Office:
    """The head-office app, its database and what the tests need to attack it."""

    app: Flask
    engine: Engine
    tokens: dict[str, str]
    mine: int  # campaign sent to S001
    theirs: int  # campaign sent to S002 only

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def auth(self, store: str = "S001") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[store]}"}

    def state(self) -> dict[str, Any]:
        """Everything a refused request must leave as it was."""
        with make_session_factory(self.engine)() as sess:
            links = {s.store_id: (s.acked_seq, s.last_ack_status, s.feed_seq, s.feed_error)
                     for s in sess.scalars(select(StoreLink))}
            return {"batches": sess.scalar(select(func.count()).select_from(ResultBatch)),
                    "results": sess.scalar(select(func.count()).select_from(CampaignResult)),
                    "result_rows": sorted(sess.execute(select(CampaignResult.campaign_id, CampaignResult.kind,
                                                              CampaignResult.ref)).all()),
                    "packs": sorted(sess.execute(select(Pack.store_id, Pack.seq, Pack.action, Pack.acked_status))
                                    .all()),
                    "campaigns": dict(sess.execute(select(Campaign.id, Campaign.status)).all()),
                    "links": links}


def open_office(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Office:
    """Seed head office on `db_url` and build its app (close it with close_office)."""
    from server.app import create_app

    key = generate_key(tmp_path / "ho.pem")
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "ho.pem"))  # budget withdrawals sign with it
    eng = make_engine(db_url)
    with make_session_factory(eng)() as sess:
        seed_chain(sess, {"S001": [1, 2, 3], "S002": [4, 5, 6]})
        tokens = {s: add_store(sess, s, f"Store {s}")[1] for s in ("S001", "S002")}
        budget = {"kind": "redemptions", "amount": 1}
        mine = campaigns.create_campaign(sess, definition(name="Mine", stores=["S001"], budget=budget)).id
        theirs = campaigns.create_campaign(sess, definition(name="Theirs", stores=["S002"], budget=budget)).id
        for cid in (mine, theirs):
            campaigns.publish(sess, cid, key)
        sess.commit()
    app = create_app(app_config(db_url, tmp_path, site={"role": "head_office", "store_id": "HQ"}))
    return Office(app, eng, tokens, mine, theirs)


def close_office(office: Office) -> None:
    from server.database import engine as app_engine

    dispose_when_idle(app_engine(office.app))
    office.engine.dispose()
