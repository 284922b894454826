"""A store feeds head office exactly once: back-fill, outages, replays, races, erasure, over real HTTP.

Head office is a real Flask app on loopback (its own SQLite database and Delta lake in the
test's folder); the store's database is the imported Complete Journey slice on SQLite and
on PostgreSQL; the store ships with the very functions its scheduler job and CLI run.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Member, OutboxFact, Purchase, PurchaseLine, ResultBatch, StoreLink
from db.session import make_engine, make_session_factory
from server.head_office import feed
from server.head_office.compiler import add_store
from server.head_office.lake import Lake
from server.store import chain_feed, loyalty
from tests.chain.conftest import Office
from tests.conftest import app_config
from tests.head_office.conftest import feed_batch, purchase_fact, sell
from tests.loopback import dispose_when_idle


def _counts(store: Session) -> tuple[int, int, int]:
    return (store.scalar(select(func.count()).select_from(Member)) or 0,
            store.scalar(select(func.count()).select_from(Purchase)) or 0,
            store.scalar(select(func.count()).select_from(PurchaseLine)) or 0)


def _sell(store: Session, member: int | None, lines: list[tuple[int, int]]) -> Purchase:
    """A purchase as checkout records it, with its outbox fact in the same transaction, committed."""
    purchase = sell(store, "S001", member, utcnow(), lines)
    store.commit()
    return purchase


def _product(store: Session) -> int:
    return int(store.scalar(select(PurchaseLine.product_id).limit(1)))  # type: ignore[arg-type]


def test_back_fill_then_ship_puts_every_line_in_the_lake_once(store: Session, office: Office) -> None:
    members, purchases, lines = _counts(store)
    seen: list[tuple[int, int]] = []
    assert chain_feed.backfill(store, progress=lambda done, total: seen.append((done, total))) == (members, purchases)
    assert seen[-1] == (members + purchases, members + purchases)  # the progress bar reaches its end
    report = chain_feed.ship(store, office.server.url, office.token)
    assert report.error == "" and report.facts == members + purchases and report.lines == lines
    assert office.lake.table().count() == lines
    assert store.scalar(select(func.count()).select_from(OutboxFact)) == 0
    link = office.link()
    assert (link["last_seq"], link["lines"], link["lag_facts"], link["error"]) == (report.held, lines, 0, "")
    with office.session() as ho:
        assert ho.scalar(select(func.count()).select_from(Member)) == members
    again = chain_feed.ship(store, office.server.url, office.token)  # nothing new: a heartbeat, nothing counted
    assert (again.batches, again.held, again.error) == (0, report.held, "")
    assert chain_feed.backfill(store) == (0, 0) and office.lake.table().count() == lines


def test_a_back_fill_stopped_by_a_crash_resumes_and_queues_nothing_twice(store: Session, office: Office) -> None:
    members, purchases, lines = _counts(store)

    def crash(done: int, total: int) -> None:
        if done > members + 100:
            raise KeyboardInterrupt  # Ctrl-C, or the process killed, after some chunks committed

    with pytest.raises(KeyboardInterrupt):
        chain_feed.backfill(store, progress=crash, chunk=50)
    store.rollback()
    assert 0 < store.scalar(select(func.count()).select_from(OutboxFact)) < members + purchases
    chain_feed.backfill(store, chunk=50)
    assert store.scalar(select(func.count()).select_from(OutboxFact).where(OutboxFact.kind == "purchase")) == purchases
    chain_feed.ship(store, office.server.url, office.token)
    assert office.lake.table().count() == lines


def test_head_office_down_the_store_keeps_selling_and_the_backlog_drains_when_it_returns(
        store: Session, office: Office) -> None:
    product = _product(store)
    office.server.stop()
    sold = [_sell(store, None, [(product, 100 + i), (product, 5)]) for i in range(30)]
    down = chain_feed.ship(store, office.server.url, office.token)
    assert down.error and down.batches == 0
    assert chain_feed.backlog(store).facts == 30 and chain_feed.feed_status(store, {"server": {}})["lines"] == 60
    office.server.start()  # the same port: head office is back
    back = chain_feed.ship(store, office.server.url, office.token)
    assert (back.error, back.facts, back.lines) == ("", 30, 60)
    in_lake = office.lake.table().to_pyarrow_table(columns=["purchase_id"]).column("purchase_id").to_pylist()
    assert sorted(set(in_lake)) == sorted(p.id for p in sold) and len(in_lake) == 60


def test_a_batch_sent_again_after_head_office_crashed_between_commit_and_answer_counts_once(
        store: Session, office: Office, monkeypatch: pytest.MonkeyPatch) -> None:
    product = _product(store)
    for i in range(5):
        _sell(store, None, [(product, 200 + i)])
    real = feed._campaign_results

    def crash_after_the_lake_commit(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(feed, "_campaign_results", real)  # only this once
        raise RuntimeError("head office lost power after the lake commit, before its SQL commit")

    monkeypatch.setattr(feed, "_campaign_results", crash_after_the_lake_commit)
    first = chain_feed.ship(store, office.server.url, office.token)
    assert "500" in first.error and office.lake.held("S001") == 1  # the lake holds it, SQL does not
    assert office.link()["last_seq"] == 0 and chain_feed.backlog(store).facts == 5
    second = chain_feed.ship(store, office.server.url, office.token)  # the same batch, number 1, again
    assert (second.error, second.held) == ("", 1)
    assert office.lake.table().count() == 5 and office.link()["last_seq"] == 1
    with office.session() as ho:
        assert ho.scalar(select(func.count()).select_from(ResultBatch)) == 1


def test_a_replayed_or_early_batch_changes_nothing(office: Office) -> None:
    import json
    import urllib.request

    def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(f"{office.server.url}/api/v1/head-office/feed", json.dumps(body).encode(),
                                     {"Authorization": f"Bearer {office.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    one = [purchase_fact(1, None, utcnow(), [(7, 100)])]
    two = [purchase_fact(2, None, utcnow(), [(7, 300), (8, 1)])]
    assert post(feed_batch(1, one))[1]["held"] == 1
    assert post(feed_batch(2, two))[1]["held"] == 2
    assert post(feed_batch(1, one)) == (200, post(feed_batch(1, one))[1])  # replayed: held 2, nothing applied
    assert post(feed_batch(1, one))[1] == {"held": 2, "applied": False, "facts": 0, "lines": 0, "results": 0,
                                           "skipped": [], "withdrawn": []}
    status, body = post(feed_batch(4, two))  # batch 3 never came
    assert status == 409 and body["held"] == 2 and "batch 3" in body["message"]
    assert office.lake.table().count() == 3 and office.link()["error"].startswith("batch 4")


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_two_head_office_workers_racing_on_one_batch_count_it_once(db_url: str, tmp_path: Path) -> None:
    eng = make_engine(db_url)
    with make_session_factory(eng)() as ho:
        add_store(ho, "S001", "Store One")
        ho.commit()
    lake = Lake(str(tmp_path / "lake"))
    body = feed_batch(1, [purchase_fact(i, None, utcnow(), [(7, 100), (8, 50)]) for i in range(1, 41)])
    start, answers, errors = threading.Barrier(2), [], []

    def worker() -> None:
        with make_session_factory(eng)() as ho:
            try:
                start.wait()
                answers.append(feed.apply_batch(ho, lake, ho.get(StoreLink, "S001"), body))  # type: ignore[arg-type]
                ho.commit()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sorted(a.applied for a in answers) == [False, True]
    assert lake.table().count() == 80 and lake.held("S001") == 1
    with make_session_factory(eng)() as ho:
        assert ho.get(StoreLink, "S001").feed_seq == 1  # type: ignore[union-attr]
        assert ho.scalar(select(func.count()).select_from(ResultBatch)) == 1
    eng.dispose()


def test_the_lake_skips_a_batch_it_holds_even_from_a_stale_table(tmp_path: Path) -> None:
    from server.head_office.batch import read_batch
    from server.head_office.lake import lines_table

    lake = Lake(str(tmp_path / "lake"))
    batch = read_batch(feed_batch(1, [purchase_fact(1, 5, utcnow(), [(7, 100), (8, 9)])]))
    lines = lines_table("S001", batch.purchases, batch.lines)
    stale = lake.table()  # loaded before the first commit, as a second worker's would be
    assert lake.append("S001", 1, lines) is True
    assert lake.append("S001", 1, lines) is False

    class Racing(Lake):
        calls = 0

        def table(self) -> Any:
            Racing.calls += 1
            return stale if Racing.calls == 1 else super().table()

    assert Racing(lake.uri).append("S001", 1, lines) is False  # its commit conflicts; it looks again and skips
    assert Racing.calls == 2 and lake.table().count() == 2


def test_an_erasure_reaches_head_office_and_no_lake_file_holds_the_member_after_vacuum(
        store: Session, office: Office) -> None:
    chain_feed.backfill(store)
    chain_feed.ship(store, office.server.url, office.token)
    member = int(store.scalar(select(PurchaseLine.member_id).where(PurchaseLine.member_id.is_not(None)).limit(1)))
    assert office.lake.history([member], utcnow().replace(year=2000), utcnow()).shape[0] > 0
    loyalty.erase_member(store, member, "test")
    store.commit()
    assert chain_feed.ship(store, office.server.url, office.token).error == ""
    with office.session() as ho:
        erased = ho.get(Member, member)
        assert erased is not None and erased.erased_at is not None and not erased.consent_personalisation
    assert office.lake.history([member], utcnow().replace(year=2000), utcnow()).empty
    folder = Path(office.lake.uri)  # applying the erasure vacuumed: the files that held the member are gone
    files = [f for f in folder.rglob("*.parquet") if "_delta_log" not in f.parts]  # the data files
    assert files and all(member not in pq.read_table(f, columns=["member_id"]).column("member_id").to_pylist()
                         for f in files)
    assert all(any(d.iterdir()) for d in folder.glob("month=*"))  # no empty partition folder left
    assert pads.dataset(office.lake.table().file_uris()).count_rows() == office.lake.table().count()


def test_a_refused_batch_stays_in_the_outbox_and_head_office_shows_why(store: Session, office: Office) -> None:
    bad = purchase_fact(1, None, utcnow(), [(7, 100)])["data"]
    store.add(OutboxFact(kind="purchase", payload={**bad, "purchased_at": "yesterday"}, lines=1))
    store.commit()
    report = chain_feed.ship(store, office.server.url, office.token)
    assert "422" in report.error and "purchases.purchased_at[0] must be an RFC 3339" in report.error
    assert chain_feed.backlog(store).facts == 1
    link = office.link()
    assert link["last_seq"] == 0 and "purchased_at[0]" in link["error"]


def test_the_store_health_reports_its_feed_lag(store: Session, tmp_path: Path, imported_url: str) -> None:
    from server.app import create_app
    from server.database import engine as app_engine

    product = _product(store)
    for _ in range(3):
        _sell(store, None, [(product, 100), (product, 1)])
    app = create_app(app_config(imported_url, tmp_path))
    answer = app.test_client().get("/healthz").get_json()
    dispose_when_idle(app_engine(app))
    assert answer["feed"]["facts"] == 3 and answer["feed"]["lines"] == 6 and answer["feed"]["lag_seconds"] >= 0
    assert answer["feed"]["linked"] is False  # no head_office_url in this store's config


def test_shopgo_chain_backfill_ships_with_a_progress_bar(store: Session, office: Office, imported_url: str,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli.main import main
    from server.head_office.link_secret import KEY_ENV
    from server.store.packs import set_head_office_token

    monkeypatch.setenv(KEY_ENV, str(tmp_path / "link.key"))
    set_head_office_token(store, office.token)
    store.commit()
    members, purchases, lines = _counts(store)
    env = {"SHOPGO_DATABASE_URL": imported_url, "SHOPGO_SERVER_HEAD_OFFICE_URL": office.server.url}
    result = CliRunner().invoke(main, ["chain", "backfill"], env=env)
    assert result.exit_code == 0, result.output
    assert "queueing history" in result.output and f"queued {members:,} members and {purchases:,} purchases" \
        in result.output and f"{lines:,} lines shipped" in result.output
    assert office.lake.table().count() == lines
    status = CliRunner().invoke(main, ["chain", "status"], env=env)
    assert '"facts": 0' in status.output and '"linked": true' in status.output


def test_lake_maintenance_leaves_no_trace_of_an_erased_member_and_drops_old_lines(tmp_path: Path) -> None:
    from datetime import timedelta

    from server.head_office.batch import read_batch
    from server.head_office.lake import lines_table, maintain

    erased, kept, now = 777_001, 777_002, utcnow()
    lake = Lake(str(tmp_path / "lake"), log_retention_hours=0)
    facts = [purchase_fact(1, erased, now, [(7, 100), (8, 5)]), purchase_fact(2, kept, now, [(7, 300)]),
             purchase_fact(3, kept, now - timedelta(days=800), [(9, 40)])]  # past two years' retention
    for seq, chunk in enumerate((facts[:1], facts[1:]), start=1):
        batch = read_batch(feed_batch(seq, chunk))
        lake.append("S001", seq, lines_table("S001", batch.purchases, batch.lines))
    assert lake.delete_members([erased]) == 2
    report = maintain(lake, now, retention_days=730)
    assert report.startswith("1 lines past 730 days deleted")
    assert lake.table().to_pyarrow_table(columns=["member_id", "product_id"]).to_pylist() == [
        {"member_id": kept, "product_id": 7}]
    folder = Path(lake.uri)
    for path in folder.rglob("*"):
        if path.suffix == ".parquet":
            assert str(erased) not in str(pq.read_table(path).to_pylist()), path  # data files and the checkpoint
        elif path.is_file():
            assert str(erased) not in path.read_text(errors="replace"), path  # the commit log: no delete predicate
    assert sorted(d.name for d in folder.glob("month=*")) == [f"month={now:%Y-%m}"]  # the old month's folder went
    assert lake.held("S001") == 2  # the feed's numbers survive the log's expiry


def test_a_stores_first_link_queues_its_history_once(store: Session, imported_url: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli.main import main
    from server.head_office.link_secret import KEY_ENV

    monkeypatch.setenv(KEY_ENV, str(tmp_path / "link.key"))
    token_file = tmp_path / "token"
    token_file.write_text("a-head-office-token\n")
    members, purchases, _ = _counts(store)
    args = ["head-office", "link", "--token-file", str(token_file), "--database", imported_url]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert f"queued {members:,} members and {purchases:,} purchases" in first.output
    again = CliRunner().invoke(main, args)  # a new token later: the history is not queued twice
    assert again.exit_code == 0 and "queued" not in again.output
    assert store.scalar(select(func.count()).select_from(OutboxFact)) == members + purchases


@pytest.mark.parametrize("imported_url", ["postgresql"], indirect=True)
def test_numbering_a_batch_waits_for_another_shipper_numbering_one(store: Session, imported_url: str) -> None:
    from db.models import SiteState

    product = _product(store)
    for i in range(5):
        _sell(store, None, [(product, 100 + i)])
    chain_feed.next_batch(store)  # batch 1 numbered: the row of the last number exists
    chain_feed.acknowledge(store, 1)
    _sell(store, None, [(product, 7)])
    eng = make_engine(imported_url)
    other = make_session_factory(eng)()
    other.execute(select(SiteState).where(SiteState.key == chain_feed.SEQ_KEY).with_for_update())  # numbering
    got: list[tuple[int, list[int]]] = []
    waiting = threading.Thread(target=lambda: got.append(
        (lambda seq_rows: (seq_rows[0], [r.id for r in seq_rows[1]]))(chain_feed.next_batch(store))))
    waiting.start()
    waiting.join(1.0)
    assert waiting.is_alive() and got == []  # it waits for the other shipper's numbering to end
    other.commit()
    waiting.join(30)
    other.close()
    eng.dispose()
    assert got and got[0][0] == 2 and len(got[0][1]) == 1


def test_a_purchase_shipped_after_its_member_was_erased_elsewhere_does_not_bring_them_back(office: Office) -> None:
    from db.models import Member as M
    from server.auth.accounts import ensure_store

    with office.session() as ho:
        ensure_store(ho, "S001", "Store One")
        ho.add(M(id=555_001, card_number="4900555000013", store_id="S001", consent_personalisation=True))
        ho.commit()
        link = ho.get(StoreLink, "S001")
        erasure = {"kind": "erasure", "data": {"member_id": 555_001, "at": utcnow().isoformat()}}
        feed.apply_batch(ho, office.lake, link, feed_batch(1, [erasure]))
        late = purchase_fact(9, 555_001, utcnow(), [(7, 100), (8, 20)])  # another store had not heard yet
        assert feed.apply_batch(ho, office.lake, link, feed_batch(2, [late])).lines == 2
        ho.commit()
    rows = office.lake.table().to_pyarrow_table(columns=["purchase_id", "member_id"]).to_pylist()
    assert rows == [{"purchase_id": 9, "member_id": None}] * 2
