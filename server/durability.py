"""What a handheld is told about how safe its stored events are: the sync path's durability report.

On PostgreSQL the usual event batch commits without waiting for its WAL to reach the disk
(`synchronous_commit=off` on the sync path's own connections, server/ingest_pg.py): the
answer no longer waits on the disk's flush, whose stalls of hundreds of milliseconds were
the sync path's slowest answers. Nothing a shopper scanned can be lost for it, because the
handheld keeps every event it sent until the server reports it flushed, and sends it again
if the server may have lost it. Each answer carries a report:

    {"epoch": "...", "synchronous": false, "written": 1234, "flushed": 1200}

- `epoch` changes when PostgreSQL recovers from a crash (the only way an acknowledged
  commit can vanish): it lives in the unlogged table `sync_epoch`, which crash recovery
  empties, and the next connection writes a new one. A handheld that sees a new epoch
  sends again every event it has not seen reported flushed; the server stores each once
  by event id, so a resend of an event that survived is reported a duplicate.
- `written` is the WAL position when this batch was read. Every batch the handheld had an
  answer for before it sent this one committed before that position.
- `flushed` is how far the WAL was on disk at the same moment. An event is safe once some
  answer in the same epoch has `flushed` at or beyond the `written` of a later answer.
- `synchronous: true` means this answer's own transaction wrote WAL (took a transaction id for
  a logged table: a row lock counts) and its commit was flushed before the answer was sent (the general path, a
  finish): everything the handheld had an answer for before, and this request's own events,
  are safe. A transaction that wrote
  nothing flushes nothing, so its answer carries WAL positions instead.

SQLite answers carry no report: each commit there is on disk before the answer. Only a client
that says it keeps events until they are reported on disk (the `X-ShopGo-Durability: 1` header,
as handheld.client sends) is answered before the flush; any other client's batches take the
general path, which commits synchronously, so a handheld from before this protocol loses nothing.
A finish may carry the last epoch the device was told: when the database has recovered since,
it is refused (409, with the new `epoch`) before anything is written, so that the device sends
its events again before the trip is finished and its audit decided.
"""
from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import text
from sqlalchemy.orm import Session

ENSURE_EPOCH = ("INSERT INTO sync_epoch (id, epoch) VALUES (1, gen_random_uuid()::text) "
                "ON CONFLICT (id) DO NOTHING")
# Whether this transaction wrote (has an xid), and if so its commit waits for the flush
# whatever the server's default; else the WAL positions the answer reports instead.
_EPOCH_NOW = text("SELECT epoch FROM sync_epoch WHERE id = 1")
_SESSION_REPORT = text(
    "SELECT (SELECT epoch FROM sync_epoch WHERE id = 1), pg_current_xact_id_if_assigned() IS NOT NULL "
    "AND set_config('synchronous_commit', 'on', true) = 'on', "
    "pg_current_wal_insert_lsn() - '0/0'::pg_lsn, pg_current_wal_flush_lsn() - '0/0'::pg_lsn")


def report(epoch: str, written: int, flushed: int) -> dict[str, Any]:
    """The report of an answer given before its commit is flushed."""
    return {"epoch": epoch, "synchronous": False, "written": int(written), "flushed": int(flushed)}


def synchronous(epoch: str) -> dict[str, Any]:
    """The report of an answer whose transaction wrote and whose commit was flushed first."""
    return {"epoch": epoch, "synchronous": True}


def aware(environ: Mapping[str, Any]) -> bool:
    """Whether the request's client keeps events until they are reported on disk
    (handheld.client.DURABILITY_HEADER); only its batches may be answered before the flush."""
    return environ.get("HTTP_X_SHOPGO_DURABILITY") == "1"


def current_epoch(session: Session) -> str | None:
    """The database's epoch now (None on SQLite); written if a crash emptied its table."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    epoch = session.execute(_EPOCH_NOW).scalar()
    if epoch is None:
        session.execute(text(ENSURE_EPOCH))
        epoch = session.execute(_EPOCH_NOW).scalar()
    return str(epoch)


def session_report(session: Session) -> dict[str, Any] | None:
    """The report for an answer whose work is done in `session`, called last before its commit
    (None on SQLite). Writes the epoch if a crash emptied its table."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    epoch, wrote, written, flushed = session.execute(_SESSION_REPORT).one()
    if epoch is None:  # the first answer since a crash emptied the table (an unlogged write: not `wrote`)
        epoch = current_epoch(session)
    return synchronous(epoch) if wrote else report(epoch, written, flushed)
