"""Settings for sign-in throttling by address and for CORS."""

from __future__ import annotations

import pytest

from gridserve.config import ConfigError, load_settings


def _load(tmp_path, **env: str):
    return load_settings(
        {"GRIDSERVE_ENV": "testing", "GRIDSERVE_INSTANCE_PATH": str(tmp_path)} | env
    )


def test_defaults_throttle_30_failures_per_address_and_allow_no_cors(tmp_path):
    settings = _load(tmp_path)
    assert settings.login_max_failures_per_address == 30
    assert settings.login_max_failures == 5
    assert settings.cors_origins == ()


def test_per_address_limit_is_read_and_checked(tmp_path):
    settings = _load(tmp_path, GRIDSERVE_LOGIN_MAX_FAILURES_PER_ADDRESS="100")
    assert settings.login_max_failures_per_address == 100
    with pytest.raises(ConfigError, match="GRIDSERVE_LOGIN_MAX_FAILURES_PER_ADDRESS"):
        _load(tmp_path, GRIDSERVE_LOGIN_MAX_FAILURES_PER_ADDRESS="many")


def test_cors_origins_are_a_comma_separated_list(tmp_path):
    settings = _load(
        tmp_path, GRIDSERVE_CORS_ORIGINS=" https://Console.example.org/ ,http://localhost:5173"
    )
    assert settings.cors_origins == ("https://console.example.org", "http://localhost:5173")
    assert _load(tmp_path, GRIDSERVE_CORS_ORIGINS="*").cors_origins == ("*",)


@pytest.mark.parametrize(
    "bad", ["console.example.org", "https://x.example/path", "ftp://x.example", "https://a b"]
)
def test_cors_origins_that_are_not_origins_are_refused(tmp_path, bad):
    with pytest.raises(ConfigError, match="GRIDSERVE_CORS_ORIGINS"):
        _load(tmp_path, GRIDSERVE_CORS_ORIGINS=bad)
