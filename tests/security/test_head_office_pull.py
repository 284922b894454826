"""The store's pack pull against a head office that answers badly (issue 23), served for real on loopback:
a malformed list, items without seq, body or signature, wrong types, and answers too big to
read. The pull reports a clear error, applies nothing and never raises (the scheduler's job
logs the error and runs again next time)."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from db.models import Offer, StorePack
from db.session import make_engine, make_session_factory
from server.head_office.compiler import pack_document
from server.head_office.definition import parse_definition
from server.head_office.link_secret import KEY_ENV
from server.head_office.signing import canonical, public_key_b64, sign
from server.store.packs import PackAnswerError, pull, read_packs_answer, set_head_office_token
from tests.head_office.conftest import NOW, definition, seed_chain
from tests.loopback import LoopbackServer

TOKEN = "store-link-token-for-tests"


class HeadOffice:
    """A stand-in head office on loopback: answers every request with `body`, or with `answer(method, path,
    request body)` when set, and keeps what it was sent."""

    def __init__(self) -> None:
        self.body: bytes = b"{}"
        self.answer: Callable[[str, str, Any], tuple[str, Any]] | None = None
        self.seen: list[str] = []
        self.sent: list[Any] = []
        self.server = LoopbackServer(self.wsgi)

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        sent = json.loads(environ["wsgi.input"].read(length)) if length else None
        self.seen.append(f"{method} {path}")
        self.sent.append(sent)
        status, body = ("200 OK", self.body) if self.answer is None else self.answer(method, path, sent)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(raw)))])
        return [raw]


@pytest.fixture
def head_office() -> Iterator[HeadOffice]:
    made = HeadOffice()
    made.server.start()
    yield made
    made.server.stop()


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "head_office_token.key"))
    eng = make_engine(db_url)
    with make_session_factory(eng)() as sess:
        seed_chain(sess, {"S001": [1, 2, 3]})
        set_head_office_token(sess, TOKEN)
        sess.commit()
    yield eng
    eng.dispose()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _cfg(head_office: HeadOffice, key: Ed25519PrivateKey) -> dict[str, Any]:
    return {"site": {"store_id": "S001", "role": "store"},
            "server": {"head_office_url": head_office.server.url, "head_office_public_key": public_key_b64(key)}}


def _good_pack(key: Ed25519PrivateKey, seq: int = 1) -> dict[str, Any]:
    d = parse_definition(definition())
    body = canonical(pack_document("S001", seq, 7, 1, "activate", d, d["product_ids"], [1, 2], [3], NOW))
    return {"seq": seq, "body": body, "signature": sign(key, body)}


def _nothing_applied(eng: Engine) -> bool:
    with make_session_factory(eng)() as sess:
        return sess.scalar(select(func.count()).select_from(StorePack)) == 0 and \
            sess.scalar(select(func.count()).select_from(Offer)) == 0


def _nested(depth: int) -> bytes:
    return b'{"packs": ' + b"[" * depth + b"]" * depth + b"}"


SHAPES = [
    ({"packs": {}}, "no list of packs"),
    ({"packs": "all of them"}, "no list of packs"),
    ({"packs": None}, "no list of packs"),
    ({}, "no list of packs"),
    ({"data": []}, "no list of packs"),  # wire.call's form of an answer that is a JSON list
    ({"packs": [1]}, "packs[0] in head office's answer is not an object"),
    ({"packs": [{}]}, "packs[0].seq in head office's answer must be a pack number after 0"),
    ({"packs": [{"seq": 1}]}, "packs[0] in head office's answer needs a body and a signature"),
    ({"packs": [{"seq": 1, "body": "{}"}]}, "needs a body and a signature"),
    ({"packs": [{"seq": 1, "body": 5, "signature": "x"}]}, "needs a body and a signature"),
    ({"packs": [{"seq": 1, "body": "{}", "signature": ["x"]}]}, "needs a body and a signature"),
    ({"packs": [{"seq": "1", "body": "{}", "signature": "x"}]}, "must be a pack number after 0"),
    ({"packs": [{"seq": True, "body": "{}", "signature": "x"}]}, "must be a pack number after 0"),
    ({"packs": [{"seq": 0, "body": "{}", "signature": "x"}]}, "must be a pack number after 0"),
    ({"packs": [{"seq": 1.0, "body": "{}", "signature": "x"}]}, "must be a pack number after 0"),
    ({"packs": [{"seq": 2**63, "body": "{}", "signature": "x"}]}, "must be a pack number after 0"),
    ({"packs": [{}] * 1001}, "more than 1000"),
]


@pytest.mark.parametrize("answer, words", SHAPES)
def test_a_malformed_packs_answer_is_named_before_anything_is_applied(answer: Any, words: str) -> None:
    with pytest.raises(PackAnswerError, match=re.escape(words)):
        read_packs_answer(answer, 0)


def test_a_pack_not_after_the_one_asked_for_is_malformed() -> None:
    assert read_packs_answer({"packs": [{"seq": 5, "body": "b", "signature": "s"}]}, 4) == [(5, "b", "s")]
    with pytest.raises(PackAnswerError, match="after 5"):
        read_packs_answer({"packs": [{"seq": 5, "body": "b", "signature": "s"}]}, 5)


@pytest.mark.parametrize("answer, words", [
    (b'{"packs": {}}', "no list of packs"),
    (b"[]", "no list of packs"),
    (b'{"packs": [{"seq": 1}]}', "packs[0] in head office's answer needs a body and a signature"),
    (b'{"packs": [{"seq": "1", "body": "{}", "signature": "x"}]}', "must be a pack number after 0"),
    (_nested(100_000), "the answer is not JSON"),
    (b"<html>gateway timeout</html>", "the answer is not JSON"),
])
def test_a_malformed_answer_is_reported_and_applies_nothing(store: Engine, head_office: HeadOffice,
                                                            key: Ed25519PrivateKey, answer: bytes, words: str) -> None:
    head_office.body = answer
    report = pull(store, _cfg(head_office, key))  # as the scheduler's pack-pull job calls it: no exception
    assert words in report.error and (report.fetched, report.applied, report.refused) == (0, [], [])
    assert _nothing_applied(store)
    assert head_office.seen == ["GET /api/v1/head-office/packs"]  # no acks, no results after a bad answer


def test_a_bad_item_after_a_good_pack_applies_neither(store: Engine, head_office: HeadOffice,
                                                      key: Ed25519PrivateKey) -> None:
    head_office.body = json.dumps({"packs": [_good_pack(key), {"seq": 2, "body": None}]}).encode()
    report = pull(store, _cfg(head_office, key))
    assert "packs[1]" in report.error and report.applied == []
    assert _nothing_applied(store)


def test_a_good_answer_is_still_applied(store: Engine, head_office: HeadOffice, key: Ed25519PrivateKey) -> None:
    head_office.body = json.dumps({"store_id": "S001", "packs": [_good_pack(key)]}).encode()
    report = pull(store, _cfg(head_office, key))
    assert report.applied == [1]  # the acks call gets the same body back, which it does not read
    assert report.error == ""


def test_an_answer_over_the_size_cap_is_refused_unread(store: Engine, head_office: HeadOffice,
                                                       key: Ed25519PrivateKey) -> None:
    good = json.dumps({"packs": [_good_pack(key)], "padding": "x" * 300_000}).encode()
    head_office.body = good
    report = pull(store, _cfg(head_office, key), max_answer_bytes=64 * 1024)
    assert f"larger than {64 * 1024} bytes" in report.error and report.fetched == 0
    assert _nothing_applied(store)


def test_the_scheduler_job_logs_a_malformed_answer_and_carries_on(store: Engine, head_office: HeadOffice,
                                                                  key: Ed25519PrivateKey, db_url: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    from server.scheduler import Jobs, run_job

    head_office.body = b'{"packs": {"1": "x"}}'
    jobs = Jobs({**_cfg(head_office, key), "database": {"url": db_url}})
    with caplog.at_level(logging.INFO):
        assert run_job("pack-pull", jobs.pack_pull) is False  # a failed run, logged, not raised
    jobs.close()
    assert "no list of packs" in caplog.text and "AttributeError" not in caplog.text
    assert _nothing_applied(store)



def test_an_ack_head_office_refuses_does_not_hold_up_the_others(store: Engine, head_office: HeadOffice,
                                                                key: Ed25519PrivateKey) -> None:
    # Recorded by an older ShopGo under numbers a bad pack claimed: 0, and 99 which head office never issued.
    with make_session_factory(store)() as sess:
        sess.add_all([StorePack(seq=seq, status=status, reason="", offers_written=0, received_at=NOW)
                      for seq, status in ((0, "refused"), (1, "activated"), (99, "refused"))])
        sess.commit()

    def answer(method: str, path: str, sent: Any) -> tuple[str, Any]:
        if path.endswith("/acks"):
            seqs = [a["seq"] for a in sent["acks"]]
            if 99 in seqs:
                return "422 Unprocessable Entity", {"error": "unprocessable entity", "status": 422,
                                                    "message": "head office issued no pack(s) 99 to store S001"}
            return "200 OK", {"recorded": len(seqs), "acked_seq": 1}
        return "200 OK", {"store_id": "S001", "packs": []}

    head_office.answer = answer
    report = pull(store, _cfg(head_office, key))
    assert report.error == "" and report.acked == 1
    acks = [[a["seq"] for a in sent["acks"]] for sent in head_office.sent if sent]
    assert acks == [[1, 99], [1], [99]]  # never pack 0; the refused batch again one by one
    with make_session_factory(store)() as sess:
        assert all(r.acked_at is not None for r in sess.scalars(select(StorePack)))
    head_office.sent.clear()
    assert pull(store, _cfg(head_office, key)).acked == 0
    assert [s for s in head_office.sent if s] == []


def test_a_tampered_pack_is_acknowledged_under_the_number_head_office_listed(store: Engine, head_office: HeadOffice,
                                                                            key: Ed25519PrivateKey) -> None:
    pack = _good_pack(key)
    tampered = {**pack, "body": pack["body"].replace('"seq":1', '"seq":99')}  # the signature no longer matches
    head_office.body = json.dumps({"store_id": "S001", "packs": [tampered]}).encode()
    report = pull(store, _cfg(head_office, key))
    assert [seq for seq, _ in report.refused] == [1] and report.refused[0][1].startswith("signature")
    assert [[a["seq"] for a in sent["acks"]] for sent in head_office.sent if sent] == [[1]]
