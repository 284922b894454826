"""The store's head-office token, encrypted at rest, so a copy of the database alone does not reveal it.

`site_state` keeps "fernet:" followed by the token encrypted with Fernet (AES-128-CBC with
HMAC-SHA256, from `cryptography`). The key is a file of its own beside the app's secret key:
`var/head_office_token.key` (mode 0600, made on the first `shopgo head-office link`), or the
file the environment variable SHOPGO_HEAD_OFFICE_TOKEN_KEY_FILE names (tests and machines
running several sites use it). A value without the prefix is a token kept in plain text by an
older ShopGo: it is read once more and encrypted at once. A sealed value the key cannot open
(the key file lost or replaced, the database copied to another machine) is refused with a
message that says to link the store again.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from cryptography.fernet import Fernet, InvalidToken

from server import config as config_mod

KEY_ENV = "SHOPGO_HEAD_OFFICE_TOKEN_KEY_FILE"
DEFAULT_KEY_PATH = "var/head_office_token.key"
PREFIX = "fernet:"
RELINK = "link the store again: `shopgo head-office store-add STORE --rotate` at head office, then " \
         "`shopgo head-office link --token-file PATH` here"


class LinkTokenError(RuntimeError):
    """The kept token cannot be read or kept; the message says what to do."""


def key_path(cfg: Mapping[str, Any] | None = None) -> Path:
    """Where the key that encrypts the head-office token lives."""
    value = os.environ.get(KEY_ENV) or DEFAULT_KEY_PATH
    root = ((cfg or {}).get("_meta") or {}).get("root") or config_mod.ROOT
    path = Path(value)
    return path if path.is_absolute() else Path(root) / path


def _load(path: Path, create: bool) -> Fernet:
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # 0600 from the start, and never over a key another process just wrote
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
    try:
        return Fernet(path.read_bytes().strip())
    except FileNotFoundError:
        raise LinkTokenError(f"the head-office token is encrypted with the key in {path}, which is missing; "
                             f"{RELINK}") from None
    except (OSError, ValueError) as exc:
        raise LinkTokenError(f"cannot use the head-office token key {path}: {exc}; {RELINK}") from None


def is_sealed(value: str) -> bool:
    """True when `value` is an encrypted token (False: plain text from an older ShopGo)."""
    return value.startswith(PREFIX)


def seal(token: str, path: Path) -> str:
    """The token encrypted with the key in `path` (made when missing), as kept in site_state."""
    return PREFIX + _load(path, create=True).encrypt(token.encode()).decode("ascii")


def unseal(value: str, path: Path) -> str:
    """The token from its kept form; LinkTokenError when the key cannot open it."""
    try:
        return _load(path, create=False).decrypt(value[len(PREFIX):].encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise LinkTokenError(f"the head-office token cannot be decrypted with the key in {path} "
                             f"(a different key, or a damaged value); {RELINK}") from None
