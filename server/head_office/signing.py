"""Ed25519 keys and pack signatures: canonical JSON bytes, signed by head office, checked by stores.

The private key is a PEM file (PKCS#8, unencrypted, mode 0600) under var/ on the head-office
machine; its path is `var/head_office_ed25519.pem`, or the environment variable
SHOPGO_HEAD_OFFICE_KEY_FILE when set (tests and machines running several sites use it).
Stores hold only the public key, base64 of its 32 raw bytes, as `server.head_office_public_key`.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from server import config as config_mod

KEY_ENV = "SHOPGO_HEAD_OFFICE_KEY_FILE"
DEFAULT_KEY_PATH = "var/head_office_ed25519.pem"


class SignatureError(ValueError):
    """A pack's signature or key is missing, malformed or does not match; the message says which."""


def canonical(doc: Mapping[str, Any]) -> str:
    """The one text form of a document that is signed: sorted keys, no spaces, ASCII only."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def key_path(cfg: Mapping[str, Any]) -> Path:
    """Where head office keeps its private key."""
    return config_mod.resolve_path(cfg, os.environ.get(KEY_ENV) or DEFAULT_KEY_PATH)


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The public half as stores configure it: base64 of the 32 raw bytes."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def generate_key(path: Path, overwrite: bool = False) -> Ed25519PrivateKey:
    """Write a new private key (0600); refuses to replace one unless told, as stores trust it."""
    if path.exists() and not overwrite:
        raise SignatureError(f"{path} already exists; stores trust its public key. Pass --force to replace it")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start so the key is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    path.chmod(0o600)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read head office's private key."""
    if not path.exists():
        raise SignatureError(f"no head-office key at {path}; create one with `shopgo head-office keygen`")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"{path} does not hold an Ed25519 private key")
    return key


def load_public_key(b64: str) -> Ed25519PublicKey:
    """A store's configured public key."""
    if not b64.strip():
        raise SignatureError("server.head_office_public_key is empty; set it to the key "
                             "`shopgo head-office keygen` printed")
    try:
        raw = base64.b64decode(b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("server.head_office_public_key is not base64") from None
    if len(raw) != 32:
        raise SignatureError(f"server.head_office_public_key decodes to {len(raw)} bytes; an Ed25519 key has 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(key: Ed25519PrivateKey, body: str) -> str:
    """Base64 Ed25519 signature of the body's UTF-8 bytes."""
    return base64.b64encode(key.sign(body.encode())).decode()


def verify(public: Ed25519PublicKey, body: str, signature: str) -> dict[str, Any]:
    """The pack document if the signature matches its exact bytes; SignatureError otherwise."""
    try:
        sig = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SignatureError("the signature is not base64") from None
    try:
        public.verify(sig, body.encode())
    except InvalidSignature:
        raise SignatureError("the signature does not match the pack: tampered, or signed by another key") from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise SignatureError("the signed pack is not JSON") from None
    if not isinstance(doc, dict):
        raise SignatureError("the signed pack is not a JSON object")
    return doc
