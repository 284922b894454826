"""Staff users and handheld devices: creation and credential checks."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from db.models import Device, Store, User

ROLES = ("staff", "manager", "head_office")


class AccountError(ValueError):
    """A user or device could not be created or used; the message says why."""


def hash_token(token: str) -> str:
    """The stored form of a device token (SHA-256; tokens are long random strings)."""
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_store(session: Session, store_id: str, name: str, timezone_name: str = "Europe/London") -> Store:
    """The store row, created if it does not exist yet."""
    store = session.get(Store, store_id)
    if store is None:
        store = Store(id=store_id, name=name, timezone=timezone_name)
        session.add(store)
        session.flush()
    return store


def add_user(session: Session, username: str, password: str, role: str, store_id: str | None) -> User:
    """Create a console user with a hashed password."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < 8:
        raise AccountError("password must be at least 8 characters")
    if role != "head_office" and not store_id:
        raise AccountError(f"a {role} user needs a store id (--store)")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} already exists")
    if store_id and session.get(Store, store_id) is None:
        raise AccountError(f"store {store_id!r} does not exist; import or create it first")
    user = User(username=username, password_hash=generate_password_hash(password), role=role, store_id=store_id)
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class LoginResult:
    """The outcome of a sign-in attempt."""

    user: User | None
    reason: str = ""


# Hashes of a random password, one per hashing function in use, made on first need: an unknown
# user name is checked against it so that it costs what a real user's check costs.
_dummy_hashes: dict[object, str] = {}


def _dummy_hash() -> str:
    """A hash made as add_user makes every user's (same method and cost), matching no password."""
    make = generate_password_hash
    if make not in _dummy_hashes:
        _dummy_hashes[make] = make(secrets.token_urlsafe(24))
    return _dummy_hashes[make]


def check_login(session: Session, username: str, password: str) -> LoginResult:
    """Verify a password, doing the same hash work whether or not the user exists.

    No failure is counted and no account is ever locked: repeated failures are throttled per
    client address and per (address, user name) in server/auth/ratelimit.py, so guessing from
    elsewhere cannot lock the real user out.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        check_password_hash(_dummy_hash(), password)  # same time as a real user's, so timing reveals no names
        return LoginResult(None, "unknown user or wrong password")
    if not check_password_hash(user.password_hash, password):
        return LoginResult(None, "unknown user or wrong password")
    return LoginResult(user)


def new_token() -> str:
    """A fresh secret for a device or a store link: URL-safe and never starting with '-', which
    a command line (`shopgo head-office link --token-file PATH`) would take for an option."""
    while (token := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return token


DEVICE_ROLES = ("handheld", "till")


def add_device(session: Session, store_id: str, name: str, role: str = "handheld") -> tuple[Device, str]:
    """Register a handheld or a till; returns the device and its token, which is never shown again."""
    if role not in DEVICE_ROLES:
        raise AccountError(f"a device's role is one of {', '.join(DEVICE_ROLES)}, not {role!r}")
    if session.get(Store, store_id) is None:
        raise AccountError(f"store {store_id!r} does not exist; import or create it first")
    if not name.strip() or len(name) > 64:
        raise AccountError("a device needs a name of 1 to 64 characters")
    token = new_token()
    device = Device(store_id=store_id, name=name, token_hash=hash_token(token), role=role)
    session.add(device)
    session.flush()
    return device, token


def find_devices(session: Session, store_id: str | None, name: str | None = None,
                 live_only: bool = False) -> list[Device]:
    """The store's devices (every store's for None), by id; only those named `name` when given."""
    query = select(Device).order_by(Device.id)
    if store_id is not None:
        query = query.where(Device.store_id == store_id)
    if name is not None:
        query = query.where(Device.name == name)
    if live_only:
        query = query.where(Device.revoked_at.is_(None))
    return list(session.scalars(query))


def device_for_token(session: Session, token: str) -> Device | None:
    """The live device holding this token, or None if unknown or revoked."""
    device = session.scalar(select(Device).where(Device.token_hash == hash_token(token)))
    if device is None or device.revoked_at is not None:
        return None
    return device


def revoke_device(session: Session, device_id: int) -> Device:
    """Revoke a device's token: it is refused (401) from its next request on."""
    device = session.get(Device, device_id)
    if device is None:
        raise AccountError(f"no device {device_id}")
    if device.revoked_at is None:
        device.revoked_at = datetime.now(timezone.utc)
    return device


def revoke_named_device(session: Session, store_id: str, name: str) -> Device:
    """Revoke the store's live device called `name` (or with that id)."""
    found = find_devices(session, store_id, name, live_only=True)
    if not found and name.isascii() and name.isdigit():
        device = session.get(Device, int(name)) if len(name) <= 9 else None
        found = [device] if device is not None and device.store_id == store_id and device.revoked_at is None else []
    if not found:
        raise AccountError(f"store {store_id} has no live device called {name!r}; `shopgo device list` shows them")
    if len(found) > 1:
        raise AccountError(f"{len(found)} live devices are called {name!r} (ids {', '.join(str(d.id) for d in found)}); "
                           "revoke one by its id")
    return revoke_device(session, found[0].id)
