"""Personal data at rest (the Fernet key ring) and on screen (the maskers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet

from gridserve import crypto
from gridserve.privacy import mask_id_number, mask_name, mask_phone


@pytest.fixture
def ring(app, override_settings):
    """``with ring(*keys):`` an app context whose key ring is ``keys`` (newest first)."""

    @contextmanager
    def _ring(*keys: str) -> Iterator[None]:
        with override_settings(data_keys=keys), app.app_context():
            yield

    return _ring


@pytest.fixture
def keys() -> tuple[str, str]:
    return Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_round_trip(ring, keys):
    with ring(keys[0]):
        token = crypto.encrypt("13812345678")
        assert isinstance(token, bytes) and b"13812345678" not in token
        assert crypto.decrypt(token) == "13812345678"
        assert crypto.encrypt("13812345678") != token  # a fresh IV every time
        members = [{"name": "张三", "relation": "户主", "work_unit": "某单位"}]
        blob = crypto.encrypt_json(members)
        assert "张三".encode() not in blob
        assert crypto.decrypt_json(blob) == members
        assert crypto.decrypt(memoryview(token)) == "13812345678"  # as some drivers return it


def test_nothing_stays_nothing(ring, keys):
    with ring(keys[0]):
        assert crypto.encrypt(None) is None and crypto.encrypt("") is None
        assert crypto.decrypt(None) is None
        assert crypto.encrypt_json(None) is None and crypto.decrypt_json(None) is None
        assert crypto.rotate(None) is None


def test_a_wrong_key_cannot_decrypt(ring, keys):
    old, new = keys
    with ring(old):
        token = crypto.encrypt("510104199001011230")
    with ring(new), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
    with ring(new), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(b"not a fernet token")


def test_the_newest_key_encrypts_and_any_key_of_the_ring_decrypts(ring, keys):
    old, new = keys
    with ring(old):
        under_old = crypto.encrypt("13812345678")
    with ring(new, old):
        assert crypto.decrypt(under_old) == "13812345678"
        under_new = crypto.encrypt("13812345678")
    with ring(new):
        assert crypto.decrypt(under_new) == "13812345678"


def test_rotate_moves_a_value_to_the_newest_key(ring, keys):
    old, new = keys
    with ring(old):
        token = crypto.encrypt("13812345678")
    with ring(new, old):
        rotated = crypto.rotate(token)
    assert rotated != token
    with ring(new):
        assert crypto.decrypt(rotated) == "13812345678"
    with ring(old), pytest.raises(crypto.DecryptionError):
        crypto.decrypt(rotated)


def test_generated_keys_are_fernet_keys():
    key = crypto.generate_key()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert crypto.generate_key() != key


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+85291234567", "+852****4567"),
        ("2887654321", "********21"),
        (None, None),
        ("", ""),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("id_number", "masked"),
    [
        ("510104199001011234", "510104********1234"),
        ("11010519491231002X", "110105********002X"),
        ("510104900101123", "510104*****1123"),  # a 15-digit first-generation number
        ("A12345", "****45"),
        (None, None),
    ],
)
def test_mask_id_number(id_number, masked):
    assert mask_id_number(id_number) == masked


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("李小龙", "李**"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳修", "欧阳*"),
        ("欧阳", "欧*"),
        ("王", "*"),
        ("阿依古丽·买买提", "阿***·买**"),
        ("John Smith", "J*** S****"),
        (None, None),
    ],
)
def test_mask_name(name, masked):
    assert mask_name(name) == masked
