"""Pack signatures: canonical bytes, tamper and key checks, key files."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from server.head_office.signing import (
    SignatureError,
    canonical,
    generate_key,
    load_private_key,
    load_public_key,
    public_key_b64,
    sign,
    verify,
)
from tests.head_office.conftest import other_key_b64, raw_b64


def test_signed_pack_verifies_to_its_document(key: Ed25519PrivateKey) -> None:
    body = canonical({"seq": 1, "store_id": "S001", "exposed": [3, 1]})
    assert verify(load_public_key(public_key_b64(key)), body, sign(key, body)) == {
        "seq": 1, "store_id": "S001", "exposed": [3, 1]}


def test_canonical_form_ignores_key_order() -> None:
    assert canonical({"b": 1, "a": [2, "é"]}) == canonical({"a": [2, "é"], "b": 1}) == '{"a":[2,"\\u00e9"],"b":1}'


@pytest.mark.parametrize("change", [
    lambda b: b.replace('"seq":1', '"seq":2'),
    lambda b: b.replace("[1,3]", "[1,3,4]"),
    lambda b: b + " ",
])
def test_tampered_body_is_refused(key: Ed25519PrivateKey, change) -> None:  # type: ignore[no-untyped-def]
    body = canonical({"seq": 1, "exposed": [1, 3]})
    with pytest.raises(SignatureError, match="does not match"):
        verify(load_public_key(public_key_b64(key)), change(body), sign(key, body))


def test_pack_signed_by_another_key_is_refused(key: Ed25519PrivateKey) -> None:
    body = canonical({"seq": 1})
    with pytest.raises(SignatureError, match="does not match"):
        verify(load_public_key(other_key_b64()), body, sign(key, body))


@pytest.mark.parametrize("signature, message", [("not base64!", "not base64"), (raw_b64(b"short"), "does not match")])
def test_malformed_signature_is_refused(key: Ed25519PrivateKey, signature: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(load_public_key(public_key_b64(key)), "{}", signature)


@pytest.mark.parametrize("configured, message", [
    ("", "is empty"), ("%%%", "not base64"), (raw_b64(b"x" * 31), "31 bytes")])
def test_bad_public_key_config_is_named(configured: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        load_public_key(configured)


def test_keygen_writes_private_key_readable_by_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ho.pem"
    key = generate_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_b64(load_private_key(path)) == public_key_b64(key)


def test_keygen_refuses_to_replace_a_key_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "ho.pem"
    first = generate_key(path)
    with pytest.raises(SignatureError, match="already exists"):
        generate_key(path)
    assert public_key_b64(load_private_key(path)) == public_key_b64(first)
    assert public_key_b64(generate_key(path, overwrite=True)) != public_key_b64(first)


def test_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="shopgo head-office keygen"):
        load_private_key(tmp_path / "none.pem")
