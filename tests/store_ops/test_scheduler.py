"""The scheduler's fixed jobs, their coalescing, failure handling, the site lock and the ops CLI."""
from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import func, select

from db.models import PurchaseLine
from server import config as config_mod
from server.cli.main import main
from server.config import ROOT
from server.scheduler import (
    JOB_IDS,
    Jobs,
    SchedulerBusy,
    build_scheduler,
    in_web_worker,
    run_job,
    run_scheduler,
    site_lock,
)

from .conftest import Shop


def _cfg(url: str = "sqlite:///:memory:", **sections: dict[str, Any]) -> dict[str, Any]:
    return config_mod.load(overrides={"database": {"url": url}, **sections}, environ={})


def test_scheduler_has_exactly_the_fixed_jobs_coalesced_one_at_a_time() -> None:
    sched = build_scheduler(_cfg())
    jobs = {job.id: job for job in sched.get_jobs()}
    assert tuple(jobs) == JOB_IDS == ("retention-purge", "offers-build", "catalogue-bump", "pack-pull", "chain-feed",
                                      "points-expiry", "tier-recompute", "lake-maintenance")
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time >= 60
    assert not sched.running


@pytest.mark.parametrize("scheduler, job_id, expected", [
    ({"purge_at": "04:05"}, "retention-purge", "cron[hour='4', minute='5']"),
    ({"offers_build_at": "01:30"}, "offers-build", "cron[hour='1', minute='30']"),
    ({"catalogue_bump_minutes": 7}, "catalogue-bump", "interval[0:07:00]"),
    ({"pack_pull_minutes": 90}, "pack-pull", "interval[1:30:00]"),
    ({"feed_seconds": 45}, "chain-feed", "interval[0:00:45]"),
    ({"lake_maintenance_at": "05:20"}, "lake-maintenance", "cron[hour='5', minute='20']"),
])
def test_job_times_follow_the_config(scheduler: dict[str, Any], job_id: str, expected: str) -> None:
    sched = build_scheduler(_cfg(scheduler=scheduler))
    assert str(sched.get_job(job_id).trigger) == expected


def test_a_started_scheduler_keeps_the_ids_and_coalesces(db_url: str) -> None:
    sched = build_scheduler(_cfg(db_url), scheduler_cls=BackgroundScheduler)
    sched.start(paused=True)
    try:
        assert sorted(j.id for j in sched.get_jobs()) == sorted(JOB_IDS)
        assert all(j.coalesce and j.max_instances == 1 for j in sched.get_jobs())
        assert all(j.next_run_time is not None and j.next_run_time.tzinfo is not None for j in sched.get_jobs())
    finally:
        sched.shutdown(wait=False)


def test_a_failing_job_is_logged_and_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> str:
        raise ConnectionError("database went away")

    with caplog.at_level(logging.ERROR, logger="server.scheduler"):
        assert run_job("offers-build", broken) is False
    assert "job offers-build failed; it runs again at its next time" in caplog.text
    assert "database went away" in caplog.text
    assert run_job("offers-build", lambda: "fine") is True


def test_every_job_body_runs_on_a_fresh_database(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    jobs = Jobs(_cfg(db_url))
    try:
        with caplog.at_level(logging.INFO, logger="server.scheduler"):
            for job in build_scheduler(jobs.cfg, jobs=jobs).get_jobs():
                assert job.func(*job.args) is True, job.id
        assert "head-office packs are not configured" in caplog.text
    finally:
        jobs.close()


def test_a_second_scheduler_for_the_same_site_is_refused(db_url: str, tmp_path: Any) -> None:
    cfg = _cfg(db_url)
    with site_lock(cfg):
        with pytest.raises(SchedulerBusy):
            with site_lock(cfg):
                pass
        result = CliRunner().invoke(main, ["scheduler", "--database", db_url])
        assert result.exit_code == 1 and "another `shopgo scheduler`" in result.output
    with site_lock(cfg):  # released when the first one stopped
        pass


def test_the_scheduler_refuses_to_start_in_a_web_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/27.0.1")
    assert in_web_worker()
    with pytest.raises(RuntimeError, match="never inside a web worker"):
        run_scheduler(_cfg())


def test_the_web_app_never_loads_the_scheduler(tmp_path: Any) -> None:
    code = ("import sys; from server.app import create_app; "
            f"create_app({{'database': {{'url': 'sqlite:///{tmp_path}/x.db'}}, 'server': {{'secret_key': 't'}}}}); "
            "print(sorted(m for m in sys.modules if m == 'server.scheduler' or m.startswith('apscheduler')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _old_and_new(shop: Shop) -> None:
    shop.member(1)
    now = dt.datetime.now(dt.timezone.utc)
    shop.purchase(1, now - dt.timedelta(days=800), [(1, 10), (2, 20)])
    shop.purchase(1, now - dt.timedelta(days=3), [(3, 30)])
    shop.session.commit()


def _url(shop: Shop) -> str:
    return shop.engine.url.render_as_string(hide_password=False)


def test_purge_command_dry_run_says_what_it_would_remove_and_changes_nothing(plain_shop: Shop) -> None:
    own_shop = plain_shop
    _old_and_new(own_shop)
    runner = CliRunner()
    dry = runner.invoke(main, ["purge", "--dry-run", "--database", _url(own_shop)])
    assert dry.exit_code == 0 and "would remove 2 purchase lines and 1 empty purchases" in dry.output
    assert own_shop.session.scalar(select(func.count()).select_from(PurchaseLine)) == 3
    own_shop.session.rollback()
    real = runner.invoke(main, ["purge", "--database", _url(own_shop)])
    assert real.exit_code == 0 and "removed 2 purchase lines and 1 empty purchases" in real.output
    assert own_shop.session.scalar(select(func.count()).select_from(PurchaseLine)) == 1


@pytest.mark.parametrize("as_of", ["2027-02-30", "yesterday", "15/03/2027"])
def test_offers_build_command_refuses_a_bad_date(as_of: str, tmp_path: Any) -> None:
    result = CliRunner().invoke(main, ["offers-build", "--as-of", as_of, "--database", f"sqlite:///{tmp_path}/none.db"])
    assert result.exit_code == 2 and "Invalid value for '--as-of'" in result.output
    assert not (tmp_path / "none.db").exists()


def test_offers_build_command_builds_for_the_date(plain_shop: Shop) -> None:
    plain_shop.member(1)
    plain_shop.session.commit()
    result = CliRunner().invoke(main, ["offers-build", "--as-of", "2027-03-15", "--database", _url(plain_shop)])
    assert result.exit_code == 0, result.output
    assert "offers as of 2027-03-15: 1 members (1 consenting)" in result.output
