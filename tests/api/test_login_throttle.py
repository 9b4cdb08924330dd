"""Sign-in throttling is per (username, address) and per address, never a lock-out for all.

Addresses are set with ``REMOTE_ADDR`` (what the WSGI server reports) or, behind
trusted proxies, with ``X-Forwarded-For`` (see ``GRIDSERVE_PROXY_COUNT``).
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import select, update

from gridserve.app import create_app
from gridserve.extensions import db
from gridserve.models import LoginThrottle
from gridserve.services.accounts.auth import lock_seconds
from tests.conftest import PASSWORD
from tests.databases import make_settings

WINDOW = 15 * 60


def _sign_in(client, username, password, addr="192.0.2.1", **headers):
    return client.post(
        "/api/v1/auth/token",
        json={"username": username, "password": password},
        environ_overrides={"REMOTE_ADDR": addr},
        headers=headers,
    )


def _lock_out(client, username, addr="192.0.2.1"):
    for _ in range(5):
        assert _sign_in(client, username, "wrong", addr).status_code == 401
    assert _sign_in(client, username, "wrong", addr).status_code == 429


def test_another_address_can_still_sign_in_as_admin_while_one_is_throttled(client, world):
    _lock_out(client, "admin", "192.0.2.1")
    assert _sign_in(client, "admin", PASSWORD, "192.0.2.1").status_code == 429
    assert _sign_in(client, "admin", PASSWORD, "198.51.100.7").status_code == 201
    assert _sign_in(client, "admin", PASSWORD, "2001:db8::1").status_code == 201


def test_spraying_31_usernames_from_one_address_is_throttled(client, world):
    names = [f"user{i:02d}" for i in range(28)] + ["station_a", "station_b", "worker_a"]
    assert len(names) == 31
    codes = [_sign_in(client, name, "Summer2024!").status_code for name in names[:30]]
    assert codes == [401] * 30
    blocked = _sign_in(client, names[30], "Summer2024!")
    assert blocked.status_code == 429
    assert blocked.get_json()["error"]["code"] == "login_throttled"
    assert int(blocked.headers["Retry-After"]) > 0
    # The whole address waits, right password or not; other addresses do not.
    assert _sign_in(client, "admin", PASSWORD).status_code == 429
    assert _sign_in(client, "admin", PASSWORD, "198.51.100.7").status_code == 201


def test_the_per_address_limit_is_a_setting(client, world, override_settings):
    override_settings(login_max_failures_per_address=3)
    for name in ("a1", "a2", "a3"):
        assert _sign_in(client, name, "x").status_code == 401
    assert _sign_in(client, "a4", "x").status_code == 429


def test_retry_after_grows_with_further_failures_and_is_capped_at_the_window(client, world):
    _lock_out(client, "station_a")
    waits = [int(_sign_in(client, "station_a", "wrong").headers["Retry-After"]) for _ in range(8)]
    assert all(b >= a for a, b in itertools.pairwise(waits)), waits
    assert waits[1] == 2 * waits[0]  # doubling
    assert waits[0] < WINDOW
    assert max(waits) == WINDOW and waits[-1] == WINDOW  # capped, and stays there


def test_lock_schedule():
    assert [lock_seconds(n, 5, 900) for n in (0, 4)] == [0, 0]
    assert [lock_seconds(n, 5, 900) for n in range(5, 11)] == [56, 112, 224, 448, 896, 900]
    assert lock_seconds(10_000, 5, 900) == 900
    assert lock_seconds(5, 5, 10) == 1


def test_after_a_lock_ends_one_more_guess_is_checked_then_it_locks_for_longer(
    client, world, clean_app
):
    _lock_out(client, "station_a")
    first = int(_sign_in(client, "station_a", "wrong").headers["Retry-After"])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with clean_app.app_context():
        db.session.execute(update(LoginThrottle).values(locked_until=past))
        db.session.commit()
    assert _sign_in(client, "station_a", "wrong").status_code == 401  # checked, and wrong
    again = _sign_in(client, "station_a", "wrong")
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > first
    with clean_app.app_context():
        db.session.execute(update(LoginThrottle).values(locked_until=past))
        db.session.commit()
    assert _sign_in(client, "station_a", PASSWORD).status_code == 201


def test_a_success_clears_the_account_count_but_not_the_address_count(client, world, clean_app):
    for name in ("ghost1", "ghost2"):
        _sign_in(client, name, "x")
    for _ in range(3):
        _sign_in(client, "station_a", "wrong")
    assert _sign_in(client, "station_a", PASSWORD).status_code == 201
    with clean_app.app_context():
        rows = {
            (r.username, r.address): r.failures
            for r in db.session.execute(select(LoginThrottle)).scalars()
        }
    assert rows == {("", "192.0.2.1"): 5}


@pytest.fixture
def proxied_app(database_url, tmp_path, clean_app):
    """The same database, served as if behind one trusted proxy."""
    app = create_app(make_settings(database_url, str(tmp_path), proxy_count=1))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _failures_by_address(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(LoginThrottle)).scalars().all()
        return {r.address: r.failures for r in rows if r.username == "" and r.failures}


@pytest.mark.real_commits
def test_behind_one_trusted_proxy_the_forwarded_address_is_counted(world, proxied_app):
    client = proxied_app.test_client()
    for _ in range(5):
        resp = _sign_in(
            client, "station_a", "wrong", "10.0.0.1", **{"X-Forwarded-For": "203.0.113.9"}
        )
        assert resp.status_code == 401
    blocked = _sign_in(
        client, "station_a", PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "203.0.113.9"}
    )
    assert blocked.status_code == 429
    # Another client behind the same proxy is another address.
    other = _sign_in(
        client, "station_a", PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "203.0.113.10"}
    )
    assert other.status_code == 201
    # A client-supplied entry in front of the proxy's is not trusted.
    spoofed = _sign_in(
        client, "station_a", PASSWORD, "10.0.0.1", **{"X-Forwarded-For": "1.2.3.4, 203.0.113.9"}
    )
    assert spoofed.status_code == 429
    assert _failures_by_address(proxied_app) == {"203.0.113.9": 7}


def test_without_trusted_proxies_x_forwarded_for_is_ignored(client, world, clean_app):
    for i in range(5):
        forged = {"X-Forwarded-For": f"203.0.113.{i}"}
        assert _sign_in(client, "station_a", "wrong", "192.0.2.1", **forged).status_code == 401
    # Rotating the header does not escape the throttle: the peer's address is what counts.
    resp = _sign_in(
        client, "station_a", PASSWORD, "192.0.2.1", **{"X-Forwarded-For": "203.0.113.99"}
    )
    assert resp.status_code == 429
    assert _failures_by_address(clean_app) == {"192.0.2.1": 6}


@pytest.mark.real_commits
def test_a_parallel_spray_cannot_test_more_passwords_than_the_address_limit(clean_app, world):
    """Forty usernames at once from one address: the database lets exactly thirty be checked."""
    from concurrent.futures import ThreadPoolExecutor

    names = [f"spray{i:02d}" for i in range(37)] + ["station_a", "station_b", "worker_a"]

    def guess(name: str) -> int:
        with clean_app.test_client() as c:
            return _sign_in(c, name, "Winter2025!").status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(guess, names))
    assert codes.count(401) == 30
    assert codes.count(429) == 10
