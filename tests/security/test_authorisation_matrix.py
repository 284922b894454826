"""The authorisation matrix: every route of the app, for every kind of caller.

Every rule in the url_map of a store site and of a head-office site must have a row in
MATRIX below (a new endpoint without one fails `test_every_route_has_a_row`). Each row is
requested by every caller, console users signed in through the real sign-in form, and
what happened is compared with the row:

- `y`  the caller gets through: any answer but 401, 403 or a redirect to sign-in
       (a 2xx, or a 4xx about the request itself such as 409 on a finished trip);
- `-`  the caller is turned away with 401, 403 or (a page, anonymous) a redirect to sign-in,
       and nothing in the database changed (every table compared before and after).

No caller may ever see a 5xx, and an API refusal is a JSON error. Every unsafe request
carries the session's CSRF token, so what is tested is the credential check, not the CSRF
check. Within a row the callers who should be refused go first, so a caller who is let in
and changes something (erasing a member, passing an audit) cannot make a later refusal
look like a success.

Callers, all of store S001 unless "far" (store S002):
- anon: nobody;  own: the handheld that started the seeded trips;  handheld: another
  handheld of the store;  far_hh: a handheld of S002;  revoked: a revoked handheld token;
- till, far_till: till devices;
- staff, manager, far_staff, far_mgr: console users;  office: a head-office console user;
- link: the store token head office gave S001 (the credential of /api/v1/head-office/*).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from db.models import Base
from tests.security.conftest import Site, csrf_from, sign_in

CALLERS = ("anon", "own", "handheld", "far_hh", "revoked", "till", "far_till", "staff", "manager", "far_staff",
           "far_mgr", "office", "link")
CONSOLE_USERS = {"staff": "h_staff", "manager": "h_manager", "office": "h_office", "far_staff": "h_other",
                 "far_mgr": "h_other_manager"}

MATRIX = """
endpoint                          method  anon own handheld far_hh revoked till far_till staff manager far_staff far_mgr office link  note
index                             GET     y    y   y        y      y       y    y        y     y       y         y       y      y     start page (redirects by role)
health.healthz                    GET     y    y   y        y      y       y    y        y     y       y         y       y      y     for load balancers
static                            GET     y    y   y        y      y       y    y        y     y       y         y       y      y
api.ping                          GET     y    y   y        y      y       y    y        y     y       y         y       y      y
openapi_json                      GET     y    y   y        y      y       y    y        y     y       y         y       y      y
auth.signin                       GET     y    y   y        y      y       y    y        y     y       y         y       y      y
auth.signin                       POST    y    y   y        y      y       y    y        y     y       y         y       y      y     the form itself checks the password
auth.signout                      POST    y    y   y        y      y       y    y        y     y       y         y       y      y
store_packs.notify                POST    y    y   y        y      y       y    y        y     y       y         y       y      y     only starts a pull of signed packs
store_packs.status                GET     y    y   y        y      y       y    y        y     y       y         y       y      y     read-only pack status (see report)
handheld_api.get_catalogue        GET     -    y   y        -      -       y    -        -     -       -         -       -      -     devices of this store
handheld_api.start_trip           POST    -    y   -        -      -       -    -        -     -       -         -       -      -     the seeded trip is own's
handheld_api.trip_offers          GET     -    y   -        -      -       -    -        -     -       -         -       -      -     the trip's own handheld
handheld_api.post_events          POST    -    y   -        -      -       -    -        -     -       -         -       -      -     the trip's own handheld
handheld_api.finish               POST    -    y   -        -      -       -    -        -     -       -         -       -      -     the trip's own handheld
handheld_api.trip_staff_events    GET     -    y   -        -      -       -    -        -     -       -         -       -      -     the trip's own handheld
handheld_api.post_checkout        POST    -    -   -        -      -       y    -        y     y       -         -       -      -     a till or staff of the trip's store
till_api.bill                     GET     -    -   -        -      -       y    -        y     y       -         -       -      -     a till or staff of the trip's store
till_api.approve_age              POST    -    -   -        -      -       -    -        y     y       -         -       -      -     staff of the trip's store, signed in: never a till's token
handheld_api.feedback             POST    -    y   y        -      -       -    -        -     -       -         -       -      -     handhelds of this store
handheld_api.audit_outcome        POST    -    -   -        -      -       y    -        y     y       -         -       -      -     a till or staff of the audit's store
members_api.export                POST    -    -   -        -      -       -    -        -     y       -         -       y      -     member of S001
members_api.erase                 POST    -    -   -        -      -       -    -        -     y       -         -       y      -     member of S001
staff.dashboard                   GET     -    -   -        -      -       -    -        y     y       y         y       y      -     own store's figures
staff.trips                       GET     -    -   -        -      -       -    -        y     y       y         y       y      -     own store's trips
staff.trips_fragment              GET     -    -   -        -      -       -    -        y     y       y         y       y      -
staff.trip_age_ok                 POST    -    -   -        -      -       -    -        y     y       -         -       y      -     trip of S001
staff.trip_void                   POST    -    -   -        -      -       -    -        y     y       -         -       y      -     trip of S001
staff.trip_take_over              POST    -    -   -        -      -       -    -        y     y       -         -       y      -     trip of S001
staff.trip_help_done              POST    -    -   -        -      -       -    -        y     y       -         -       y      -     trip of S001
staff.audits                      GET     -    -   -        -      -       -    -        y     y       y         y       y      -     own store's queue
staff.audit                       GET     -    -   -        -      -       -    -        y     y       -         -       y      -     audit of S001
staff.audit                       POST    -    -   -        -      -       -    -        y     y       -         -       y      -     audit of S001
staff.feedback                    GET     -    -   -        -      -       -    -        y     y       y         y       y      -     own store's reports
staff.feedback_status             POST    -    -   -        -      -       -    -        y     y       -         -       y      -     report of S001
staff.member_search               GET     -    -   -        -      -       -    -        y     y       y         y       y      -     searches own store only
staff.member_page                 GET     -    -   -        -      -       -    -        y     y       -         -       y      -     member of S001
staff.basket                      GET     -    -   -        -      -       -    -        y     y       -         -       y      -     basket of S001
staff.till_page                   GET     -    -   -        -      -       -    -        y     y       y         y       -      -     a store's staff: their own till
staff.till_bill                   GET     -    -   -        -      -       -    -        y     y       -         -       -      -     trip of S001
staff.till_age_ok                 POST    -    -   -        -      -       -    -        y     y       -         -       -      -     trip of S001
staff.till_audit                  POST    -    -   -        -      -       -    -        y     y       -         -       -      -     trip of S001
staff.till_pay                    POST    -    -   -        -      -       -    -        y     y       -         -       -      -     trip of S001
staff.till_print                  POST    -    -   -        -      -       -    -        y     y       -         -       -      -     trip of S001
staff.enrol_member                GET     -    -   -        -      -       -    -        y     y       y         y       -      -     a store enrols into its own block
staff.enrol_member                POST    -    -   -        -      -       -    -        y     y       y         y       -      -
staff.kiosk                       GET     -    -   -        -      -       -    -        y     y       y         y       -      -     signed in by a colleague
staff.kiosk                       POST    -    -   -        -      -       -    -        y     y       y         y       -      -
staff.member_card                 GET     -    -   -        -      -       -    -        y     y       -         -       y      -     member of S001
staff.member_card_svg             GET     -    -   -        -      -       -    -        y     y       -         -       y      -     member of S001
staff.member_consents             POST    -    -   -        -      -       -    -        y     y       -         -       -      -     member of S001
staff.data_requests_page          GET     -    -   -        -      -       -    -        -     y       -         y       y      -     managers and head office
staff.export_member               POST    -    -   -        -      -       -    -        -     y       -         -       y      -     member of S001
staff.erase_member                POST    -    -   -        -      -       -    -        -     y       -         -       y      -     member of S001
head_office.home                  GET     -    -   -        -      -       -    -        -     -       -         -       y      -     head-office site only
head_office.campaigns             GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.campaign              GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.new_campaign          GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.new_campaign          POST    -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.edit_campaign         GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.edit_campaign         POST    -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.publish               POST    -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.withdraw              POST    -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.preview               GET     -    -   -        -      -       -    -        -     -       -         -       y      -     streams the audience counts
head_office.find_products         GET     -    -   -        -      -       -    -        -     -       -         -       y      -     the editor's product picker
head_office.results               GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.results_json          GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.stores                GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.chain                 GET     -    -   -        -      -       -    -        -     -       -         -       y      -
head_office.notify                POST    -    -   -        -      -       -    -        -     -       -         -       y      -
head_office_api.packs             GET     -    -   -        -      -       -    -        -     -       -         -       -      y     stores fetch their packs
head_office_api.acks              POST    -    -   -        -      -       -    -        -     -       -         -       -      y
head_office_api.feed_batch        POST    -    -   -        -      -       -    -        -     -       -         -       -      y
head_office_api.card              GET     -    -   -        -      -       -    -        -     -       -         -       -      y     a store asks about a card
"""


@dataclass(frozen=True)
class Row:
    """One line of the matrix."""

    endpoint: str
    method: str
    allowed: frozenset[str]

    @property
    def key(self) -> tuple[str, str]:
        return self.endpoint, self.method


def _parse(table: str) -> list[Row]:
    lines = [line for line in table.strip().splitlines()]
    header = lines[0].split()
    assert header[2:2 + len(CALLERS)] == list(CALLERS), header
    rows = []
    for line in lines[1:]:
        cells = line.split()
        marks = cells[2:2 + len(CALLERS)]
        assert set(marks) <= {"y", "-"}, line
        rows.append(Row(cells[0], cells[1], frozenset(c for c, m in zip(CALLERS, marks) if m == "y")))
    return rows


ROWS = _parse(MATRIX)

# What each route is asked: (path, JSON body, form body). Paths name the seeded objects.
Ask = Callable[[Site], tuple[str, Any, dict[str, str] | None]]


def _trip_events(site: Site) -> Any:
    return {"events": []}


REQUESTS: dict[tuple[str, str], Ask] = {
    ("index", "GET"): lambda s: ("/", None, None),
    ("health.healthz", "GET"): lambda s: ("/healthz", None, None),
    ("static", "GET"): lambda s: ("/static/console.css", None, None),
    ("api.ping", "GET"): lambda s: ("/api/v1/ping", None, None),
    ("openapi_json", "GET"): lambda s: ("/api/v1/openapi.json", None, None),
    ("auth.signin", "GET"): lambda s: ("/signin", None, None),
    ("auth.signin", "POST"): lambda s: ("/signin", None, {"username": "", "password": ""}),
    ("auth.signout", "POST"): lambda s: ("/signout", None, {}),
    ("store_packs.notify", "POST"): lambda s: ("/api/v1/packs/notify", None, None),
    ("store_packs.status", "GET"): lambda s: ("/api/v1/packs/status", None, None),
    ("handheld_api.get_catalogue", "GET"): lambda s: ("/api/v1/catalogue?since=999999", None, None),
    ("handheld_api.start_trip", "POST"): lambda s: ("/api/v1/trips", {"trip_id": s.ids["done_trip"]}, None),
    ("handheld_api.trip_offers", "GET"): lambda s: (f"/api/v1/trips/{s.ids['done_trip']}/offers", None, None),
    ("handheld_api.post_events", "POST"): lambda s: (f"/api/v1/trips/{s.ids['done_trip']}/events", _trip_events(s),
                                                     None),
    ("handheld_api.finish", "POST"): lambda s: (f"/api/v1/trips/{s.ids['done_trip']}/finish", {}, None),
    ("handheld_api.trip_staff_events", "GET"): lambda s: (f"/api/v1/trips/{s.ids['done_trip']}/staff-events",
                                                          None, None),
    ("handheld_api.post_checkout", "POST"): lambda s: (f"/api/v1/trips/{s.ids['done_trip']}/checkout", {}, None),
    ("till_api.bill", "GET"): lambda s: (f"/api/v1/till/{s.ids['done_trip']}", None, None),
    ("till_api.approve_age", "POST"): lambda s: (f"/api/v1/trips/{s.ids['done_trip']}/age-approval", {}, None),
    ("staff.till_page", "GET"): lambda s: ("/staff/till", None, None),
    ("staff.till_bill", "GET"): lambda s: (f"/staff/till/{s.ids['done_trip']}", None, None),
    ("staff.till_age_ok", "POST"): lambda s: (f"/staff/till/{s.ids['done_trip']}/age-ok", None, {}),
    ("staff.till_audit", "POST"): lambda s: (f"/staff/till/{s.ids['done_trip']}/audit", None, {}),
    ("staff.till_pay", "POST"): lambda s: (f"/staff/till/{s.ids['done_trip']}/pay", None, {"method": "manual"}),
    ("staff.till_print", "POST"): lambda s: (f"/staff/till/{s.ids['done_trip']}/print", None, {}),
    ("staff.enrol_member", "GET"): lambda s: ("/staff/members/new", None, None),
    ("staff.enrol_member", "POST"): lambda s: ("/staff/members/new", None, {"name": ""}),
    ("staff.kiosk", "GET"): lambda s: ("/staff/kiosk", None, None),
    ("staff.kiosk", "POST"): lambda s: ("/staff/kiosk", None, {"name": ""}),
    ("staff.member_card", "GET"): lambda s: (f"/staff/members/{s.ids['member']}/card", None, None),
    ("staff.member_card_svg", "GET"): lambda s: (f"/staff/members/{s.ids['member']}/card.svg", None, None),
    ("staff.member_consents", "POST"): lambda s: (f"/staff/members/{s.ids['member']}/consents", None, {}),
    ("handheld_api.feedback", "POST"): lambda s: ("/api/v1/feedback", {
        "id": "6f1c1f5e-0000-4000-8000-000000000001", "kind": "other", "message": "matrix"}, None),
    ("handheld_api.audit_outcome", "POST"): lambda s: (f"/api/v1/audits/{s.ids['audit']}/outcome",
                                                       {"findings": []}, None),
    ("members_api.export", "POST"): lambda s: (f"/api/v1/members/{s.ids['member']}/export", {}, None),
    ("members_api.erase", "POST"): lambda s: (f"/api/v1/members/{s.ids['erase_member']}/erase", {"confirm": True},
                                              None),
    ("staff.dashboard", "GET"): lambda s: ("/staff/", None, None),
    ("staff.trips", "GET"): lambda s: ("/staff/trips", None, None),
    ("staff.trips_fragment", "GET"): lambda s: ("/staff/trips/live", None, None),
    ("staff.trip_age_ok", "POST"): lambda s: (f"/staff/trips/{s.ids['trip']}/age-ok", None, {}),
    ("staff.trip_void", "POST"): lambda s: (f"/staff/trips/{s.ids['trip']}/void", None, {"key": "nope"}),
    ("staff.trip_take_over", "POST"): lambda s: (f"/staff/trips/{s.ids['trip']}/take-over", None, {}),
    ("staff.trip_help_done", "POST"): lambda s: (f"/staff/trips/{s.ids['trip']}/help-done", None, {}),
    ("staff.audits", "GET"): lambda s: ("/staff/audits", None, None),
    ("staff.audit", "GET"): lambda s: (f"/staff/audits/{s.ids['audit']}", None, None),
    ("staff.audit", "POST"): lambda s: (f"/staff/audits/{s.ids['audit']}", None, {}),
    ("staff.feedback", "GET"): lambda s: ("/staff/feedback", None, None),
    ("staff.feedback_status", "POST"): lambda s: (f"/staff/feedback/{s.ids['feedback']}/status", None,
                                                  {"status": "open"}),
    ("staff.member_search", "GET"): lambda s: ("/staff/members?q=zzzz-nobody", None, None),
    ("staff.member_page", "GET"): lambda s: (f"/staff/members/{s.ids['member']}", None, None),
    ("staff.basket", "GET"): lambda s: (f"/staff/members/{s.ids['member']}/baskets/{s.ids['purchase']}", None, None),
    ("staff.data_requests_page", "GET"): lambda s: ("/staff/data-requests", None, None),
    ("staff.export_member", "POST"): lambda s: ("/staff/data-requests/export", None,
                                                {"member_id": str(s.ids["member"])}),
    ("staff.erase_member", "POST"): lambda s: ("/staff/data-requests/erase", None,
                                               {"member_id": str(s.ids["erase_member_2"]),
                                                "confirm": str(s.ids["erase_member_2"])}),
    ("head_office.home", "GET"): lambda s: ("/head-office/", None, None),
    ("head_office.campaigns", "GET"): lambda s: ("/head-office/campaigns", None, None),
    ("head_office.campaign", "GET"): lambda s: (f"/head-office/campaigns/{s.ids['campaign']}", None, None),
    ("head_office.new_campaign", "GET"): lambda s: ("/head-office/campaigns/new", None, None),
    ("head_office.new_campaign", "POST"): lambda s: ("/head-office/campaigns/new", None, {"name": ""}),
    ("head_office.edit_campaign", "GET"): lambda s: (f"/head-office/campaigns/{s.ids['campaign']}/edit", None, None),
    ("head_office.edit_campaign", "POST"): lambda s: (f"/head-office/campaigns/{s.ids['campaign']}/edit", None,
                                                      {"name": ""}),
    ("head_office.publish", "POST"): lambda s: (f"/head-office/campaigns/{10**6}/publish", None, {}),
    ("head_office.withdraw", "POST"): lambda s: (f"/head-office/campaigns/{10**6}/withdraw", None, {}),
    ("head_office.preview", "GET"): lambda s: (f"/head-office/campaigns/{s.ids['campaign']}/preview", None, None),
    ("head_office.find_products", "GET"): lambda s: ("/head-office/products?q=a", None, None),
    ("head_office.results", "GET"): lambda s: (f"/head-office/campaigns/{s.ids['campaign']}/results", None, None),
    ("head_office.results_json", "GET"): lambda s: (f"/head-office/campaigns/{s.ids['campaign']}/results.json", None,
                                                    None),
    ("head_office.stores", "GET"): lambda s: ("/head-office/stores", None, None),
    ("head_office.chain", "GET"): lambda s: ("/head-office/chain", None, None),
    ("head_office.notify", "POST"): lambda s: ("/head-office/stores/notify", None, {}),
    ("head_office_api.packs", "GET"): lambda s: ("/api/v1/head-office/packs?after=0", None, None),
    ("head_office_api.acks", "POST"): lambda s: ("/api/v1/head-office/acks", {"acks": []}, None),
    ("head_office_api.card", "GET"): lambda s: ("/api/v1/head-office/cards/4900000000017", None, None),
    ("head_office_api.feed_batch", "POST"): lambda s: ("/api/v1/head-office/feed", {
        "seq": 0, "facts": [], "backlog": {"facts": 0, "lines": 0, "caught_up_at": "2026-12-01T00:00:00+00:00"}}, None),
}


def _routes(app: Flask) -> set[tuple[str, str]]:
    return {(rule.endpoint, method) for rule in app.url_map.iter_rules()
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}


class Callers:
    """A session cookie (and its CSRF token) per caller, signed in once per site."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.cookies: dict[str, tuple[str, str]] = {}

    def _session(self, app: Flask, caller: str) -> tuple[str, str]:
        if caller not in self.cookies:
            client = app.test_client()
            if caller in CONSOLE_USERS:
                resp = sign_in(client, CONSOLE_USERS[caller])
                assert resp.status_code == 302, f"{caller} could not sign in: {resp.status_code}"
            token = csrf_from(client.get("/signin").get_data(as_text=True))
            cookie = client.get_cookie("session")
            assert cookie is not None
            self.cookies[caller] = (cookie.value, token)
        return self.cookies[caller]

    def bearer(self, caller: str) -> str | None:
        """The caller's device or store-link token, if it has one."""
        site = self.site
        return {"own": site.device_token, "revoked": site.revoked_token, "link": site.store_token,
                "handheld": site.tokens["handheld"], "far_hh": site.tokens["far_handheld"],
                "till": site.tokens["till"], "far_till": site.tokens["far_till"]}.get(caller)

    def ask(self, app: Flask, caller: str, method: str, path: str, body: Any, form: dict[str, str] | None
            ) -> TestResponse:
        """One request as `caller`, on a fresh client holding the caller's session."""
        cookie, csrf = self._session(app, caller)
        client: FlaskClient = app.test_client()
        client.set_cookie("session", cookie)
        headers = {"X-CSRF-Token": csrf}
        if bearer := self.bearer(caller):
            headers["Authorization"] = f"Bearer {bearer}"
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        elif form is not None:
            kwargs["data"] = form
        return client.open(path, method=method, **kwargs)


def _outcome(resp: TestResponse) -> str:
    if resp.status_code >= 500:
        return f"{resp.status_code}!"
    if resp.status_code in (401, 403):
        return "-"
    if resp.status_code in (301, 302, 303) and "/signin?next=" in (resp.location or ""):
        return "-"
    return "y"


# Columns that change when a caller is merely recognised, not when it acts: when a device or a
# store was last seen, and the health probe's own write.
VOLATILE = {"devices": {"last_seen_at"}, "store_links": {"last_contact_at"}}
# Large tables no route edits in place: their row count is compared.
COUNTED = {"products", "purchase_lines", "purchases", "points_ledger", "offers", "import_chunks", "campaign_audience",
           "console_sessions"}


def fingerprint(site: Site) -> dict[str, str]:
    """A digest of every table's contents (row counts for the large ones)."""
    out = {}
    with site.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in COUNTED:
                out[table.name] = str(s.scalar(select(func.count()).select_from(table)))
                continue
            cols = [c for c in table.columns if c.name not in VOLATILE.get(table.name, ())]
            query = select(*cols).order_by(*table.primary_key.columns)
            if table.name == "site_state":
                query = query.where(table.c.key != "health_probe")
            out[table.name] = hashlib.sha256(repr(s.execute(query).all()).encode()).hexdigest()
    return out


@pytest.fixture(scope="module")
def callers(site: Site) -> Callers:
    made = Callers(site)
    for caller in CALLERS:  # every sign-in before any fingerprint: a sign-in writes a session row
        made._session(site.store, caller)
    return made


def test_every_route_has_a_row(site: Site) -> None:
    routes = _routes(site.store) | _routes(site.office)
    rows = {row.key for row in ROWS}
    assert len(rows) == len(ROWS), "a route has two rows"
    assert routes - rows == set(), "routes without a row in MATRIX (say who may use them)"
    assert rows - routes == set(), "rows in MATRIX for routes the app no longer has"
    assert set(REQUESTS) == rows


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.endpoint}-{r.method}" for r in ROWS])
def test_only_the_allowed_callers_get_through(site: Site, callers: Callers, row: Row) -> None:
    app = site.store if row.key in _routes(site.store) else site.office
    path, body, form = REQUESTS[row.key](site)
    # Refused callers first: an allowed caller may change the object (erase, pass an audit).
    order = sorted(CALLERS, key=lambda c: (c in row.allowed, CALLERS.index(c)))
    refused = [c for c in order if c not in row.allowed]
    before = fingerprint(site) if refused else {}
    seen: dict[str, str] = {}
    detail: dict[str, int] = {}
    for caller in order:
        if caller in row.allowed and refused and caller == order[len(refused)]:
            after = fingerprint(site)
            changed = sorted(t for t in before if before[t] != after[t])
            assert not changed, f"{row.method} {path}: refused callers changed {changed}"
        resp = callers.ask(app, caller, row.method, path, body, form)
        seen[caller], detail[caller] = _outcome(resp), resp.status_code
        if path.startswith("/api/") and resp.status_code >= 400:
            assert resp.is_json and resp.get_json().get("message"), f"{caller}: {resp.status_code} without a JSON error"
        resp.close()  # static files answer with an open file
    if refused and not row.allowed:
        after = fingerprint(site)
        assert before == after, f"{row.method} {path}: refused callers changed the database"
    if row.key == ("auth.signout", "POST"):
        callers.cookies.clear()  # every console session just ended: sign in again for the next rows
        for caller in CALLERS:
            callers._session(site.store, caller)
    want = {c: ("y" if c in row.allowed else "-") for c in CALLERS}
    assert seen == want, f"{row.method} {path}: got {seen}, statuses {detail}"
