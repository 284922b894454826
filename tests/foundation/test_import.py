"""`shopgo import completejourney`: real products, members and history; idempotent and resumable."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from biip.gtin import Gtin
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import ImportChunk, Member, Product, Purchase, PurchaseLine
from db.session import make_engine, make_session_factory
from server.importer.completejourney import import_completejourney, load_dataset
from shop.numbering import member_id_from_card


@pytest.fixture(scope="module")
def dataset():  # type: ignore[no-untyped-def]
    return load_dataset()


def _counts(sess: Session) -> tuple[int, int, int, int]:
    return (sess.scalar(select(func.count()).select_from(Product)) or 0,
            sess.scalar(select(func.count()).select_from(Member)) or 0,
            sess.scalar(select(func.count()).select_from(Purchase)) or 0,
            sess.scalar(select(func.count()).select_from(PurchaseLine)) or 0)


def test_import_loads_catalogue_members_and_history(db_url: str, dataset) -> None:  # type: ignore[no-untyped-def]
    eng = make_engine(db_url)
    report = import_completejourney(eng, store_id="S001", store_name="T", households=5, data=dataset)
    tx = dataset["transactions"]
    first5 = sorted(tx["household_id"].unique())[:5]
    expected_lines = int(tx["household_id"].isin(first5).sum())
    with make_session_factory(eng)() as sess:
        products, members, purchases, lines = _counts(sess)
        assert products == len(dataset["products"]) == 92331
        assert members == 5
        assert lines == expected_lines == report.lines_added
        assert purchases == tx[tx["household_id"].isin(first5)]["basket_id"].nunique()
        for p in sess.scalars(select(Product).limit(200)):
            Gtin.parse(p.gtin)
            assert p.price_minor > 0 and isinstance(p.price_minor, int)
        m = sess.scalars(select(Member)).first()
        assert m is not None and member_id_from_card(m.card_number) == m.id
        newest = sess.scalar(select(func.max(Purchase.purchased_at)))
        assert newest is not None and newest.tzinfo is not None
        yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    assert newest.date() <= yesterday
    shifted_newest = tx["transaction_timestamp"].max() + timedelta(days=report.shift_days)
    assert shifted_newest.date() == yesterday
    eng.dispose()


def test_second_import_adds_nothing(db_url: str, dataset) -> None:  # type: ignore[no-untyped-def]
    eng = make_engine(db_url)
    import_completejourney(eng, store_id="S001", store_name="T", households=3, data=dataset)
    with make_session_factory(eng)() as sess:
        before = _counts(sess)
    again = import_completejourney(eng, store_id="S001", store_name="T", households=3, data=dataset)
    with make_session_factory(eng)() as sess:
        assert _counts(sess) == before
    assert again.lines_added == 0 and again.households_skipped == 3
    eng.dispose()


def test_stopped_import_resumes_where_it_stopped(db_url: str, dataset) -> None:  # type: ignore[no-untyped-def]
    eng = make_engine(db_url)

    class Stop(Exception):
        pass

    def stop_after_first_chunk(done: int, total: int) -> None:
        raise Stop

    # Households 1..260 span two chunks of 250 ids; stop after the first is committed.
    with pytest.raises(Stop):
        import_completejourney(eng, store_id="S001", store_name="T", households=260, data=dataset,
                               progress=stop_after_first_chunk)
    with make_session_factory(eng)() as sess:
        partial = _counts(sess)[3]
        done = sess.scalar(select(func.count()).select_from(ImportChunk))
    assert 0 < partial and 0 < (done or 0) < 260
    report = import_completejourney(eng, store_id="S001", store_name="T", households=260, data=dataset)
    tx = dataset["transactions"]
    chosen = sorted(tx["household_id"].unique())[:260]
    with make_session_factory(eng)() as sess:
        assert _counts(sess)[3] == int(tx["household_id"].isin(chosen).sum())
    assert report.households_skipped == done
    eng.dispose()


def test_two_parts_split_the_households_between_two_stores(db_url: str, dataset, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from db.migrate import upgrade

    eng = make_engine(db_url)
    other_url = f"sqlite:///{tmp_path / 'two.db'}"
    upgrade(other_url)
    other = make_engine(other_url)
    import_completejourney(eng, store_id="S001", store_name="One", households=5, data=dataset, part=(1, 2))
    import_completejourney(other, store_id="S002", store_name="Two", households=5, data=dataset, part=(2, 2))
    first5 = sorted(int(h) for h in dataset["transactions"]["household_id"].unique())[:5]
    seen = {}
    for engine_, store in ((eng, "S001"), (other, "S002")):
        with make_session_factory(engine_)() as sess:
            seen[store] = sorted(sess.scalars(select(Member.id).where(Member.store_id == store)))
    assert seen == {"S001": first5[0::2], "S002": first5[1::2]}
    with pytest.raises(ValueError, match="1 <= I <= N"):
        import_completejourney(eng, store_id="S001", store_name="One", households=5, data=dataset, part=(3, 2))
    eng.dispose()
    other.dispose()
