"""One head office and two stores on loopback, each its own `shopgo server` process and database
(head office and store S001 on SQLite, store S002 on PostgreSQL): publish, tamper, outage, withdraw, lift."""
from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from scipy import stats
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from db import localpg
from db.base import utcnow
from db.models import Member, Offer, Pack, Product, PurchaseLine, StoreLink
from db.session import make_engine, make_session_factory
from server.auth.accounts import add_device, ensure_store
from server.head_office import campaigns
from server.head_office.compiler import add_store, store_status
from server.head_office.link_secret import KEY_ENV as LINK_KEY_ENV
from server.head_office.notify import notify_stores
from server.head_office.results import campaign_report
from server.head_office.signing import generate_key, public_key_b64
from server.store.packs import set_head_office_token
from tests.conftest import _pg_clone
from tests.head_office.conftest import sell
from tests.head_office.sites import Site, http, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class Chain:
    """The three sites, their databases and what the tests need to drive them."""

    def __init__(self, base: Path, templates: dict[str, str]) -> None:
        shutil.copy(templates["sqlite-imported"][len("sqlite:///"):], base / "ho.db")
        shutil.copy(templates["sqlite-imported"][len("sqlite:///"):], base / "s1.db")
        self.urls = {"HQ": f"sqlite:///{base / 'ho.db'}", "S001": f"sqlite:///{base / 's1.db'}",
                     "S002": _pg_clone(templates["postgresql-imported"])}
        self.engines: dict[str, Engine] = {k: make_engine(u) for k, u in self.urls.items()}
        key_file = base / "ho.pem"
        self.key = generate_key(key_file)
        self.ho = Site("hq", {"SHOPGO_SITE_ROLE": "head_office", "SHOPGO_SITE_STORE_ID": "HQ",
                              "SHOPGO_DATABASE_URL": self.urls["HQ"], "SHOPGO_HEAD_OFFICE_KEY_FILE": str(key_file),
                              "SHOPGO_CHAIN_LAKE": str(base / "lake")}, base)
        self.link_keys = {s: base / f"{s}-head-office-token.key" for s in ("S001", "S002")}
        self.stores = {s: Site(s, {"SHOPGO_SITE_ROLE": "store", "SHOPGO_SITE_STORE_ID": s,
                                   "SHOPGO_DATABASE_URL": self.urls[s], "SHOPGO_SERVER_HEAD_OFFICE_URL": self.ho.url,
                                   LINK_KEY_ENV: str(self.link_keys[s]),
                                   "SHOPGO_SERVER_HEAD_OFFICE_PUBLIC_KEY": public_key_b64(self.key),
                                   "SHOPGO_AUDIT_FIRST_TRIP": "false", "SHOPGO_AUDIT_BASE_PROBABILITY": "0"}, base)
                       for s in ("S001", "S002")}
        with self.session("HQ") as ho:
            ensure_store(ho, "S002", "Store Two")
            ids = sorted(ho.scalars(select(Member.id)))
            ho.execute(update(Member).where(Member.id.in_(ids[len(ids) // 2:])).values(store_id="S002"))
            for s, site in self.stores.items():
                _, token = add_store(ho, s, f"Store {s}", site.url)
                with self.session(s) as sess, pytest.MonkeyPatch.context() as env:
                    env.setenv(LINK_KEY_ENV, str(self.link_keys[s]))  # the key the store's process reads
                    ensure_store(sess, s, f"Store {s}")
                    set_head_office_token(sess, token)
                    sess.commit()
            ho.commit()
            self.members = {s: sorted(ho.scalars(select(Member.id).where(Member.store_id == s,
                                                                        Member.consent_personalisation.is_(True))))
                            for s in self.stores}
            self.cards = dict(ho.execute(select(Member.id, Member.card_number)).all())
            bought = (select(PurchaseLine.product_id, func.count().label("n")).join(
                Product, Product.id == PurchaseLine.product_id).where(Product.sold_by_weight.is_(False))
                .group_by(PurchaseLine.product_id).order_by(func.count().desc(), PurchaseLine.product_id).limit(6))
            self.products = [p for p, _ in ho.execute(bought).all()]
            self.gtins = dict(ho.execute(select(Product.id, Product.gtin).where(Product.id.in_(self.products))).all())
        self.ho.start()
        for site in self.stores.values():
            site.start()

    def session(self, site: str) -> Session:
        return make_session_factory(self.engines[site])()

    def close(self) -> None:
        for site in [self.ho, *self.stores.values()]:
            site.stop()
        for eng in self.engines.values():
            eng.dispose()
        localpg.drop_database(self.urls["S002"])

    def publish(self, name: str, products: list[int], notify: bool = True, **changes: Any) -> tuple[int, dict[str, int]]:
        now = utcnow()
        definition = {"name": name, "product_ids": products, "reward": {"type": "percent", "value": 25},
                      "valid_from": (now - timedelta(hours=1)).isoformat(),
                      "valid_to": (now + timedelta(days=30)).isoformat(), "stores": ["S001", "S002"],
                      "target": {}, "max_per_member": 3, "holdout_share": 0.4, **changes}
        with self.session("HQ") as ho:
            cid = campaigns.create_campaign(ho, definition, "test").id
            result = campaigns.publish(ho, cid, self.key, "test")
            ho.commit()
        if notify:
            notify_stores(self.engines["HQ"], result.packs, wait=True)
        return cid, result.packs

    def audience(self, cid: int, store: str, grp: str) -> list[int]:
        from db.models import CampaignAudience

        with self.session("HQ") as ho:
            return sorted(ho.scalars(select(CampaignAudience.member_id).where(
                CampaignAudience.campaign_id == cid, CampaignAudience.store_id == store, CampaignAudience.grp == grp)))

    def applied(self, store: str, seq: int, status: str = "activated") -> dict[str, Any]:
        def check() -> Any:
            answer = http("GET", f"{self.stores[store].url}/api/v1/packs/status")[1]
            return answer if any(p["seq"] == seq and p["status"] == status and p["acked"]
                                 for p in answer["packs"]) else None
        return wait_for(check, f"{store} to {status} pack {seq}")

    def trip_offers(self, store: str, member: int) -> list[dict[str, Any]]:
        with self.session(store) as sess:
            _, token = add_device(sess, store, f"handheld-{uuid.uuid4().hex[:6]}")
            sess.commit()
        status, body = http("POST", f"{self.stores[store].url}/api/v1/trips",
                            {"trip_id": str(uuid.uuid4()), "card_number": self.cards[member]}, token)
        assert status == 201, body
        return [o for o in body["offers"] if o["kind"] == "campaign"]


@pytest.fixture(scope="module")
def chain(templates: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    made = Chain(tmp_path_factory.mktemp("chain"), templates)
    try:
        yield made
    finally:
        made.close()


def test_published_campaign_reaches_both_stores_and_only_targeted_handhelds(chain: Chain) -> None:
    cid, packs = chain.publish("Breakfast", chain.products[:2])
    for store in ("S001", "S002"):
        chain.applied(store, packs[store])
        exposed, holdout = chain.audience(cid, store, "exposed"), chain.audience(cid, store, "holdout")
        assert exposed and set(exposed) | set(holdout) == set(chain.members[store])
        offers = chain.trip_offers(store, exposed[0])
        assert sorted(o["product_id"] for o in offers) == sorted(chain.products[:2])
        assert all(o["reward_type"] == "percent" and o["reward_value"] == 25 for o in offers)
        outside = holdout or [m for m in chain.cards if m not in chain.members[store]]
        assert chain.trip_offers(store, outside[0]) == []
    with chain.session("HQ") as ho:
        state = {s["store_id"]: s for s in store_status(ho)}
    assert all(state[s]["acked_seq"] == packs[s] and state[s]["campaigns"][cid]["state"] == "active" for s in packs)


def test_tampered_pack_is_refused_and_activates_nothing(chain: Chain) -> None:
    cid, packs = chain.publish("Tampered", chain.products[2:3], notify=False)
    seq = packs["S001"]
    with chain.session("HQ") as ho:
        pack = ho.scalar(select(Pack).where(Pack.store_id == "S001", Pack.seq == seq))
        original = pack.body
        pack.body = original.replace('"reward_value":25', '"reward_value":95')
        ho.commit()
    notify_stores(chain.engines["HQ"], ["S001"], wait=True)
    status = chain.applied("S001", seq, "refused")
    refused = next(p for p in status["packs"] if p["seq"] == seq and p["status"] == "refused")
    assert "signature" in refused["reason"] and status["last_applied"] == seq - 1
    with chain.session("S001") as sess:
        assert sess.scalars(select(Offer).where(Offer.campaign_id == cid)).all() == []
    with chain.session("HQ") as ho:
        link = next(s for s in store_status(ho) if s["store_id"] == "S001")
        assert link["last_ack_status"] == "refused" and link["acked_seq"] == seq - 1
        ho.execute(update(Pack).where(Pack.store_id == "S001", Pack.seq == seq).values(body=original))
        ho.commit()
    notify_stores(chain.engines["HQ"], ["S001", "S002"], wait=True)  # the genuine pack is then taken
    chain.applied("S001", seq)
    chain.applied("S002", packs["S002"])


def test_store_down_during_publish_catches_up_when_back(chain: Chain) -> None:
    s2 = chain.stores["S002"]
    s2.stop()
    try:
        cid, packs = chain.publish("While closed", chain.products[3:4])
        with chain.session("HQ") as ho:
            link = next(s for s in store_status(ho) if s["store_id"] == "S002")
        assert link["pending"] >= 1 and link["notify_error"]
    finally:
        s2.start()
    pulled = s2.cli("head-office", "pull")  # what the scheduler's pack-pull job runs
    assert pulled.returncode == 0, pulled.stderr
    chain.applied("S002", packs["S002"])
    exposed = chain.audience(cid, "S002", "exposed")
    assert [o["product_id"] for o in chain.trip_offers("S002", exposed[0])].count(chain.products[3]) == 1
    with chain.session("HQ") as ho:
        link = next(s for s in store_status(ho) if s["store_id"] == "S002")
    assert link["pending"] == 0 and link["campaigns"][cid]["state"] == "active"


def test_withdrawal_takes_effect_in_both_stores(chain: Chain) -> None:
    cid, packs = chain.publish("Short lived", chain.products[4:5])
    for store in packs:
        chain.applied(store, packs[store])
    with chain.session("HQ") as ho:
        result = campaigns.withdraw(ho, cid, chain.key, "test")
        ho.commit()
    notify_stores(chain.engines["HQ"], result.packs, wait=True)
    for store, seq in result.packs.items():
        chain.applied(store, seq, "withdrawn")
        exposed = chain.audience(cid, store, "exposed")
        assert all(o["product_id"] != chain.products[4] for o in chain.trip_offers(store, exposed[0]))
    with chain.session("HQ") as ho:
        assert all(s["campaigns"][cid]["state"] == "withdrawn" for s in store_status(ho))


def test_lift_report_matches_hand_computation(chain: Chain) -> None:
    campaign_product, other = chain.products[5], chain.products[0]
    cid, packs = chain.publish("Lift", [campaign_product], holdout_share=0.5)
    expected: dict[str, dict[str, list[int]]] = {}
    now = utcnow()
    for store in ("S001", "S002"):
        chain.applied(store, packs[store])
        groups = {g: chain.audience(cid, store, g) for g in ("exposed", "holdout")}
        spend = {m: 0 for g in groups.values() for m in g}
        with chain.session(store) as sess:
            for i, m in enumerate(sorted(spend)):
                if i % 3 == 2:
                    continue  # a member who buys nothing counts as zero spend
                amount = 100 * (m % 7 + 1) + (150 if m in groups["exposed"] else 0)
                sell(sess, store, m, now, [(campaign_product, amount), (other, 999)])
                sell(sess, store, m, now - timedelta(days=3), [(campaign_product, 5000)])  # before the window
                spend[m] += amount
            sess.commit()
        expected[store] = {g: [spend[m] for m in ids] for g, ids in groups.items()}
        shipped = chain.stores[store].cli("chain", "ship")  # what the scheduler's chain-feed job runs
        assert shipped.returncode == 0, shipped.stderr

    def report() -> Any:
        with chain.session("HQ") as ho:
            rep = campaign_report(ho, cid)
        got = {line["store_id"]: line for line in rep["stores"]}
        done = all(got[s]["buyers_exposed"] + got[s]["buyers_holdout"] == sum(1 for v in expected[s].values()
                                                                               for x in v if x) for s in expected)
        return rep if done else None

    rep = wait_for(report, "both stores' results at head office")
    for line in rep["stores"]:
        exp, hold = expected[line["store_id"]]["exposed"], expected[line["store_id"]]["holdout"]
        assert (line["exposed"], line["holdout"]) == (len(exp), len(hold))
        assert line["lift"]["exposed_mean"] == pytest.approx(sum(exp) / len(exp))
        assert line["lift"]["holdout_mean"] == pytest.approx(sum(hold) / len(hold) if hold else 0.0)
        assert line["lift"]["lift"] == pytest.approx(sum(exp) / len(exp) - (sum(hold) / len(hold) if hold else 0.0))
        if len(exp) >= 2 and len(hold) >= 2:
            ci = stats.ttest_ind(exp, hold, equal_var=False).confidence_interval(0.95)
            assert (line["lift"]["low"], line["lift"]["high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    everyone = {g: [x for s in expected for x in expected[s][g]] for g in ("exposed", "holdout")}
    ci = stats.ttest_ind(everyone["exposed"], everyone["holdout"], equal_var=False).confidence_interval(0.95)
    assert (rep["overall"]["lift"]["low"], rep["overall"]["lift"]["high"]) == (pytest.approx(ci.low),
                                                                               pytest.approx(ci.high))
    for store in ("S001", "S002"):  # shipping again sends nothing twice
        again = chain.stores[store].cli("chain", "ship")
        assert again.returncode == 0 and "0 batches" in again.stdout, again.stdout + again.stderr
    with chain.session("HQ") as ho:
        assert campaign_report(ho, cid)["overall"] == rep["overall"]


def test_head_office_down_for_a_while_the_feed_drains_exactly_when_it_returns(chain: Chain) -> None:
    from server.head_office.lake import Lake

    lake = Lake(chain.ho.env["SHOPGO_CHAIN_LAKE"])
    before = lake.table().count() if Path(lake.uri, "_delta_log").exists() else 0
    chain.ho.stop()
    try:
        now = utcnow()
        with chain.session("S002") as sess:  # store S002 (PostgreSQL) keeps selling
            members = chain.members["S002"][:20]
            for i, m in enumerate(members):
                sell(sess, "S002", m, now, [(chain.products[0], 100 + i), (chain.products[1], 50)])
            sess.commit()
        down = chain.stores["S002"].cli("chain", "ship")
        assert down.returncode != 0 and "outbox keeps everything" in down.stderr
        assert http("GET", f"{chain.stores['S002'].url}/healthz")[1]["feed"]["lines"] == 2 * len(members)  # its lag
    finally:
        chain.ho.start()
    back = chain.stores["S002"].cli("chain", "ship")
    assert back.returncode == 0, back.stderr
    assert http("GET", f"{chain.stores['S002'].url}/healthz")[1]["feed"]["facts"] == 0
    assert lake.table().count() - before == 2 * len(members)  # every line once
    again = chain.stores["S002"].cli("chain", "ship")
    assert "0 batches" in again.stdout and lake.table().count() - before == 2 * len(members)


def _queued_batch(chain: Chain, store: str, count: int) -> tuple[int, dict[str, Any], int]:
    """`count` purchases sold at the store and numbered into its next feed batch: (seq, body, lines)."""
    from server.store import chain_feed

    with chain.session(store) as sess:
        for i in range(count):
            sell(sess, store, chain.members[store][i % len(chain.members[store])], utcnow(),
                 [(chain.products[2], 120 + i), (chain.products[3], 80)])
        sess.commit()
        seq, rows = chain_feed.next_batch(sess)
        return seq, chain_feed.batch_body(sess, seq, rows), sum(r.lines for r in rows)


def test_a_batch_head_office_applied_but_never_answered_counts_once_when_sent_again(chain: Chain) -> None:
    from server.head_office.feed import apply_batch
    from server.head_office.lake import Lake
    from server.head_office.signing import load_private_key

    lake = Lake(chain.ho.env["SHOPGO_CHAIN_LAKE"])
    chain.stores["S001"].cli("chain", "ship")  # nothing else waiting
    start = lake.table().count()
    # 1. Head office committed the whole batch, and its answer was lost on the way back.
    seq, body, lines = _queued_batch(chain, "S001", 3)
    with chain.session("HQ") as ho:
        link = ho.get(StoreLink, "S001")
        apply_batch(ho, lake, link, body, key=load_private_key(Path(chain.ho.env["SHOPGO_HEAD_OFFICE_KEY_FILE"])))
        ho.commit()
    sent = chain.stores["S001"].cli("chain", "ship")  # the store sends it again, as it must
    assert sent.returncode == 0, sent.stderr
    assert lake.table().count() - start == lines  # each line once
    # 2. Head office committed the lake and crashed before its SQL commit.
    seq2, body2, lines2 = _queued_batch(chain, "S001", 2)
    assert seq2 == seq + 1
    from server.head_office.batch import read_batch
    from server.head_office.lake import lines_table

    batch = read_batch(body2)
    assert lake.append("S001", seq2, lines_table("S001", batch.purchases, batch.lines)) is True
    sent = chain.stores["S001"].cli("chain", "ship")
    assert sent.returncode == 0, sent.stderr
    assert lake.table().count() - start == lines + lines2  # each line once
    with chain.session("HQ") as ho:
        assert ho.get(StoreLink, "S001").feed_seq == seq2  # type: ignore[union-attr]
    with chain.session("S001") as sess:
        from db.models import OutboxFact

        assert sess.scalar(select(func.count()).select_from(OutboxFact)) == 0


def test_an_erasure_at_one_store_reaches_head_office_its_lake_and_the_other_store(chain: Chain) -> None:
    from server.head_office.lake import Lake

    member = chain.members["S001"][-1]
    with chain.session("S001") as sess:
        from server.store.loyalty import erase_member

        erase_member(sess, member, "test")
        sess.commit()
    assert chain.stores["S001"].cli("chain", "ship").returncode == 0
    with chain.session("HQ") as ho:
        assert ho.get(Member, member).erased_at is not None  # type: ignore[union-attr]
    lake = Lake(chain.ho.env["SHOPGO_CHAIN_LAKE"])
    assert lake.history([member], Lake.EPOCH, Lake.END).empty

    def erased_at_s002() -> bool:  # head office notified S002, which pulled its roster pack
        with chain.session("S002") as sess:
            return sess.get(Member, member).erased_at is not None  # type: ignore[union-attr]
    wait_for(erased_at_s002, "the erasure to reach store S002")


def test_a_card_known_only_to_head_office_works_at_a_store_online_and_with_head_office_away(chain: Chain) -> None:
    with chain.session("HQ") as ho:
        ho.add_all([Member(id=91_000_001, card_number="4900091000013", store_id="S002", consent_personalisation=True),
                    Member(id=91_000_002, card_number="4900091000020", store_id="S002", consent_personalisation=True)])
        ho.commit()
    with chain.session("S001") as sess:
        _, token = add_device(sess, "S001", f"handheld-{uuid.uuid4().hex[:6]}")
        sess.commit()
    url = chain.stores["S001"].url
    status, body = http("POST", f"{url}/api/v1/trips", {"trip_id": str(uuid.uuid4()), "card_number": "4900091000013"},
                        token)
    assert status == 201 and body["member"]["id"] == 91_000_001 and body["card_pending"] is False
    chain.ho.stop()
    try:
        status, body = http("POST", f"{url}/api/v1/trips", {"trip_id": str(uuid.uuid4()),
                                                            "card_number": "4900091000020"}, token)
        assert status == 201 and body["member"] is None and body["card_pending"] is True
    finally:
        chain.ho.start()
