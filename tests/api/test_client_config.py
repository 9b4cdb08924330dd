"""GET /api/v1/client-config: what the front ends read before anyone signs in."""

from __future__ import annotations

import pytest

from gridserve.config import ConfigError, load_settings


def test_the_client_config_needs_no_token_and_has_no_base_map_by_default(client):
    resp = client.get("/api/v1/client-config")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["languages"] == ["zh", "en"]
    assert body["default_language"] == "zh"
    assert body["api_version"] == "v1"
    assert body["map_tile_url"] is None
    assert body["map_attribution"] is None
    assert body["min_app_version"] is None
    assert body["timezone"] == "Asia/Shanghai"
    assert isinstance(body["server_version"], str)


def test_the_client_config_follows_the_settings(client, override_settings):
    override_settings(
        map_tile_url="https://tiles.example.org/{z}/{x}/{y}.png",
        map_attribution="© 示例地图",
        min_app_version="1.2.0",
    )
    body = client.get("/api/v1/client-config").get_json()
    assert body["map_tile_url"] == "https://tiles.example.org/{z}/{x}/{y}.png"
    assert body["map_attribution"] == "© 示例地图"
    assert body["min_app_version"] == "1.2.0"


def test_a_token_is_not_needed_but_a_bad_one_is_not_refused_either(client):
    resp = client.get("/api/v1/client-config", headers={"Authorization": "Bearer nonsense"})
    assert resp.status_code == 200


def test_the_settings_behind_it_are_read_from_the_environment(tmp_path):
    env = {"GRIDSERVE_INSTANCE_PATH": str(tmp_path)}
    given = {"GRIDSERVE_MAP_ATTRIBUTION": " © OSM ", "GRIDSERVE_MIN_APP_VERSION": "2.0",
             "GRIDSERVE_JOBS_INLINE": "yes"}  # fmt: skip
    cfg = load_settings({**env, **given})
    assert (cfg.map_attribution, cfg.min_app_version, cfg.jobs_inline) == ("© OSM", "2.0", True)
    assert load_settings(env).jobs_inline is False  # development: the thread pool
    assert load_settings({**env, "GRIDSERVE_ENV": "testing"}).jobs_inline is True
    with pytest.raises(ConfigError, match="GRIDSERVE_JOBS_INLINE"):
        load_settings({**env, "GRIDSERVE_JOBS_INLINE": "maybe"})
