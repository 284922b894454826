"""Sign-in throttling (server/auth/ratelimit.py): failures counted per client address and per
(client address, user name) pair, 429 with Retry-After, and no lock-out of an account for
everyone; through the real sign-in form and on the limiter alone with a hand-driven clock."""
from __future__ import annotations

import pytest

from server.auth.ratelimit import ADDRESS_LIMIT, PAIR_LIMIT, WINDOW, LoginLimiter, limiter
from tests.security.conftest import PASSWORD, Site, sign_in


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def at(address: str) -> dict[str, str]:
    return {"REMOTE_ADDR": address}


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_failures_below_the_limit_are_let_through(clock: Clock) -> None:
    lim = LoginLimiter(address_limit=3, pair_limit=3, window=60, clock=clock)
    for _ in range(2):
        lim.failed("10.0.0.1", "alice")
    assert lim.retry_after("10.0.0.1", "alice") is None


@pytest.mark.parametrize("address, username, limited", [
    ("10.0.0.1", "alice", True),     # the same client on the same account
    ("10.0.0.1", " ALICE ", True),   # names compare case- and space-insensitively
    ("10.0.0.1", "bob", False),      # the same client on another account: only its address counts so far
    ("10.0.0.2", "alice", False),    # the account from anywhere else: never locked out
    ("10.0.0.2", "", False),
])
def test_limit_applies_per_client_and_account(clock: Clock, address: str, username: str, limited: bool) -> None:
    lim = LoginLimiter(address_limit=10, pair_limit=3, window=60, clock=clock)
    for _ in range(3):
        lim.failed("10.0.0.1", "alice")
    assert (lim.retry_after(address, username) is not None) is limited


@pytest.mark.parametrize("address, username, limited", [
    ("10.0.0.1", "carol", True),     # the same client, any name
    ("10.0.0.1", "", True),
    ("10.0.0.2", "alice", False),    # any name from elsewhere
    ("10.0.0.2", "bob", False),
])
def test_one_client_trying_many_names_is_limited_by_its_address(clock: Clock, address: str, username: str,
                                                                 limited: bool) -> None:
    lim = LoginLimiter(address_limit=3, pair_limit=3, window=60, clock=clock)
    for name in ("alice", "bob", "dave"):
        lim.failed("10.0.0.1", name)
    assert (lim.retry_after(address, username) is not None) is limited


def test_failures_from_many_clients_never_limit_another_client(clock: Clock) -> None:
    lim = LoginLimiter(address_limit=3, pair_limit=3, window=60, clock=clock)
    for i in range(1000):
        lim.failed(f"10.1.{i // 256}.{i % 256}", "alice")
    assert lim.retry_after("192.0.2.1", "alice") is None


def test_retry_after_counts_down_to_when_the_oldest_failure_leaves_the_window(clock: Clock) -> None:
    lim = LoginLimiter(address_limit=2, pair_limit=99, window=60, clock=clock)
    lim.failed("10.0.0.1", "a")
    clock.now += 20
    lim.failed("10.0.0.1", "b")
    assert lim.retry_after("10.0.0.1", "c") == 40
    clock.now += 39.5
    assert lim.retry_after("10.0.0.1", "c") == 1  # never 0: a client told 0 would retry at once
    clock.now += 0.5
    assert lim.retry_after("10.0.0.1", "c") is None


def test_success_clears_the_pair_but_not_the_address(clock: Clock) -> None:
    lim = LoginLimiter(address_limit=3, pair_limit=2, window=60, clock=clock)
    lim.failed("10.0.0.1", "alice")
    lim.failed("10.0.0.1", "alice")
    lim.succeeded("10.0.0.1", "alice")
    assert lim.retry_after("10.0.0.1", "alice") is None
    lim.failed("10.0.0.1", "bob")
    assert lim.retry_after("10.0.0.1", "carol") is not None  # an attacker cannot reset it with their own account


def test_many_names_and_addresses_keep_memory_bounded(clock: Clock) -> None:
    lim = LoginLimiter(max_keys=100, clock=clock)
    for i in range(5000):
        lim.failed(f"10.{i // 256}.{i % 256}.1", f"user{i}")
    assert lim.tracked <= 100


def test_counts_expire_after_the_window(clock: Clock) -> None:
    lim = LoginLimiter(address_limit=1, pair_limit=1, window=60, clock=clock)
    lim.failed("10.0.0.1", "alice")
    clock.now += 61
    assert lim.retry_after("10.0.0.1", "alice") is None
    assert lim.tracked == 0


# --- through the real sign-in form --------------------------------------------------

def test_one_address_guessing_many_names_gets_429_with_retry_after(site: Site) -> None:
    client = site.store.test_client()
    for i in range(ADDRESS_LIMIT):
        assert sign_in(client, f"guess{i}", "wrong-password-1", at("203.0.113.7")).status_code == 401
    resp = sign_in(client, "h_staff", PASSWORD, at("203.0.113.7"))  # even the right password waits
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= WINDOW
    assert "wait" in resp.get_data(as_text=True)
    # Another address is not affected.
    other = site.store.test_client()
    assert sign_in(other, "h_staff", PASSWORD, at("203.0.113.8")).status_code == 302


def test_one_name_guessed_from_many_addresses_never_locks_it_out(site: Site) -> None:
    for i in range(3 * PAIR_LIMIT):
        client = site.store.test_client()
        assert sign_in(client, "h_other", f"guess-{i}-password", at(f"198.51.100.{i + 1}")).status_code == 401
    assert sign_in(site.store.test_client(), "h_other", PASSWORD, at("198.51.100.200")).status_code == 302


def test_one_client_guessing_one_name_gets_429_on_that_name_only(site: Site) -> None:
    client = site.store.test_client()
    for i in range(PAIR_LIMIT):
        assert sign_in(client, "h_other_manager", f"guess-{i}-password", at("198.51.100.250")).status_code == 401
    resp = sign_in(client, "h_other_manager", PASSWORD, at("198.51.100.250"))
    assert resp.status_code == 429 and resp.headers["Retry-After"].isdigit()
    assert 1 <= int(resp.headers["Retry-After"]) <= WINDOW
    assert sign_in(client, "h_other_manager", PASSWORD, at("198.51.100.251")).status_code == 302


def test_refused_attempts_do_not_reach_the_password_check(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from server.auth import accounts

    client = site.store.test_client()
    for i in range(ADDRESS_LIMIT):
        sign_in(client, f"probe{i}", "wrong-password-1", at("192.0.2.44"))
    checked: list[str] = []
    monkeypatch.setattr(accounts, "check_login", lambda s, u, p: checked.append(u))
    assert sign_in(client, "h_manager", "anything-at-all", at("192.0.2.44")).status_code == 429
    assert checked == []


def test_good_sign_ins_from_a_busy_till_are_never_limited(site: Site) -> None:
    for _ in range(ADDRESS_LIMIT + 5):
        assert sign_in(site.store.test_client(), "h_manager", PASSWORD, at("192.0.2.99")).status_code == 302


def test_form_errors_are_not_counted_as_failures(site: Site) -> None:
    client = site.store.test_client()
    for _ in range(ADDRESS_LIMIT + 2):
        assert sign_in(client, "", "", at("192.0.2.120")).status_code == 400
    assert limiter(site.store).retry_after("192.0.2.120", "h_staff") is None
