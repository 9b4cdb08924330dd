"""Configuration from the environment."""

from __future__ import annotations

import pytest

from gridserve.config import ConfigError, load_settings


def test_defaults_give_the_embedded_quick_start(tmp_path):
    settings = load_settings({"GRIDSERVE_INSTANCE_PATH": str(tmp_path)})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'gridserve.db'}"
    assert settings.timezone == "Asia/Shanghai"
    # A development key is generated once and kept.
    again = load_settings({"GRIDSERVE_INSTANCE_PATH": str(tmp_path)})
    assert settings.secret_key == again.secret_key and len(settings.secret_key) >= 32


def test_production_requires_a_real_secret_key(tmp_path):
    base = {"GRIDSERVE_ENV": "production", "GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="GRIDSERVE_SECRET_KEY is required"):
        load_settings(base)
    with pytest.raises(ConfigError, match="at least 32"):
        load_settings(base | {"GRIDSERVE_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="GRIDSERVE_DATA_KEYS is required"):
        load_settings(base | {"GRIDSERVE_SECRET_KEY": "k" * 40})
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    ok = load_settings(base | {"GRIDSERVE_SECRET_KEY": "k" * 40, "GRIDSERVE_DATA_KEYS": key})
    assert ok.secret_key == "k" * 40 and ok.data_keys == (key,)
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "data_key").exists()
    with pytest.raises(ConfigError, match="not a Fernet key"):
        load_settings(base | {"GRIDSERVE_SECRET_KEY": "k" * 40, "GRIDSERVE_DATA_KEYS": "nope"})


def test_bad_values_are_refused_clearly(tmp_path):
    base = {"GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigError, match="time zone"):
        load_settings(base | {"GRIDSERVE_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="GRIDSERVE_ENV"):
        load_settings(base | {"GRIDSERVE_ENV": "staging-ish"})
    with pytest.raises(ConfigError, match="whole number"):
        load_settings(base | {"GRIDSERVE_TOKEN_TTL": "forever"})


def test_plain_postgresql_urls_use_psycopg3(tmp_path):
    settings = load_settings(
        {
            "GRIDSERVE_INSTANCE_PATH": str(tmp_path),
            "GRIDSERVE_DATABASE_URL": "postgresql://u@db.example/gs",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@db.example/gs"


def test_the_public_url_is_an_http_origin_without_its_trailing_slash(tmp_path):
    base = {"GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    assert load_settings(base).public_url == ""
    given = base | {"GRIDSERVE_PUBLIC_URL": " https://grid.example.gov.cn/ "}
    assert load_settings(given).public_url == "https://grid.example.gov.cn"
    for bad in ("grid.example.gov.cn", "ftp://grid.example.gov.cn", "https://x.cn/?a=1"):
        with pytest.raises(ConfigError, match="GRIDSERVE_PUBLIC_URL"):
            load_settings(base | {"GRIDSERVE_PUBLIC_URL": bad})


def test_retention_is_off_unless_the_operator_sets_days(tmp_path):
    base = {"GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    settings = load_settings(base)
    assert (settings.retain_sms_days, settings.retain_case_reporter_days) == (0, 0)
    settings = load_settings(
        base | {"GRIDSERVE_RETAIN_SMS_DAYS": "90", "GRIDSERVE_RETAIN_CASE_REPORTER_DAYS": "365"}
    )
    assert (settings.retain_sms_days, settings.retain_case_reporter_days) == (90, 365)
    for name, value in (("GRIDSERVE_RETAIN_SMS_DAYS", "-1"), ("GRIDSERVE_RETAIN_SMS_DAYS", "x"),
                        ("GRIDSERVE_RETAIN_CASE_REPORTER_DAYS", "-30")):  # fmt: skip
        with pytest.raises(ConfigError, match=name):
            load_settings(base | {name: value})


def test_jobs_run_in_the_web_process_unless_told_to_leave_them_to_workers(tmp_path):
    base = {"GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    quick = load_settings(base)
    assert (quick.jobs_mode, quick.async_grid_cells, quick.async_import_rows) == (
        "pool", 500, 10_000,
    )  # fmt: skip
    production = load_settings(
        base
        | {
            "GRIDSERVE_JOBS_MODE": "Workers",
            "GRIDSERVE_ASYNC_GRID_CELLS": "200",
            "GRIDSERVE_ASYNC_IMPORT_ROWS": "5000",
        }
    )
    assert (production.jobs_mode, production.async_grid_cells) == ("workers", 200)
    assert production.async_import_rows == 5000
    with pytest.raises(ConfigError, match="GRIDSERVE_JOBS_MODE"):
        load_settings(base | {"GRIDSERVE_JOBS_MODE": "celery"})
