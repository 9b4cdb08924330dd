"""Big requests become jobs without being asked (GRIDSERVE_ASYNC_GRID_CELLS and
GRIDSERVE_ASYNC_IMPORT_ROWS); with GRIDSERVE_JOBS_MODE=workers the web process runs none."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gridserve.extensions import db
from gridserve.models import Job
from gridserve.worker import Worker

CSV_HEADER = "external_id,type,name,lon,lat\n"


def _csv(n: int) -> bytes:
    rows = [f"T-{i},household,{i}号,104.0{i % 10},30.4{i % 10}\n" for i in range(n)]
    return (CSV_HEADER + "".join(rows)).encode()


def _plan(client, headers, street: int, **body):
    return client.post(f"/api/v1/areas/{street}/grid-plans", json=body, headers=headers)


def test_a_plan_of_more_cells_than_the_threshold_answers_202(
    client, auth_as, world, override_settings
):
    """square/hex: the count is estimated from the area and the size (balanced/blocks: the
    number asked for)."""
    override_settings(async_grid_cells=1)
    headers = auth_as("centre")
    one = _plan(client, headers, world.street, method="square", size_m=100_000)
    assert one.status_code == 201, one.get_json()
    assert "Location" not in one.headers  # the plan itself, at once

    big = _plan(client, headers, world.street, method="square", size_m=2000, name="大")
    assert big.status_code == 202, big.get_json()
    assert big.headers["Location"] == f"/api/v1/jobs/{big.get_json()['id']}"
    assert "Preference-Applied" not in big.headers  # nobody asked: it was too big to wait
    job = client.get(big.headers["Location"], headers=headers).get_json()
    assert job["status"] == "succeeded", job  # tests run jobs inline
    plan = client.get(job["result_url"], headers=headers).get_json()
    assert plan["name"] == "大"
    assert plan["metrics"]["cell_count"] > 1


def test_a_balanced_plan_counts_the_cells_asked_for(client, auth_as, world, override_settings):
    override_settings(async_grid_cells=3)
    headers = auth_as("centre")
    rows = "".join(
        f"B-{i},household,,{104.005 + i * 0.009:.4f},{30.405 + i * 0.009:.4f}\n" for i in range(10)
    )
    imported = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=(CSV_HEADER + rows).encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert imported.get_json()["created"] == 10, imported.get_json()
    small = _plan(client, headers, world.street, method="balanced", cells=3)
    assert small.status_code == 201, small.get_json()
    big = _plan(client, headers, world.street, method="balanced", cells=4)
    assert big.status_code == 202, big.get_json()
    job = client.get(big.headers["Location"], headers=headers).get_json()
    plan = client.get(job["result_url"], headers=headers).get_json()
    assert plan["metrics"]["cell_count"] == 4
    # More cells than places with workload: refused at once, as before, not queued to fail.
    refused = _plan(client, headers, world.street, method="balanced", cells=1999)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "too_many_cells"


def test_the_default_threshold_keeps_ordinary_plans_synchronous(client, auth_as, world):
    resp = _plan(client, auth_as("centre"), world.street, method="square", size_m=2000)
    assert resp.status_code == 201


def test_a_plan_over_the_cell_limit_is_refused_at_once_not_queued(
    client, auth_as, world, override_settings
):
    override_settings(async_grid_cells=1, max_cells=3)
    resp = _plan(client, auth_as("centre"), world.street, method="square", size_m=100)
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "too_many_cells"


def test_an_import_of_more_rows_than_the_threshold_answers_202(
    client, auth_as, world, override_settings
):
    override_settings(async_import_rows=3)
    headers = {**auth_as("centre"), "Content-Type": "text/csv"}
    url = f"/api/v1/areas/{world.street}/places"
    small = client.post(url, data=_csv(3), headers=headers)
    assert small.status_code == 201, small.get_json()  # the report, at once
    assert small.get_json()["created"] + small.get_json()["rejected_count"] == 3

    big = client.post(url, data=_csv(4), headers=headers)
    assert big.status_code == 202, big.get_json()
    job = client.get(big.headers["Location"], headers=headers).get_json()
    assert (job["kind"], job["status"]) == ("place_import", "succeeded")
    report = client.get(job["result_url"], headers=headers).get_json()
    assert report["created"] + report["updated"] + report["rejected_count"] == 4

    # An unreadable file is refused at once whatever its size, as before.
    bad = client.post(url, data=b"a,b\n" + b"1,2\n" * 10, headers=headers)
    assert bad.status_code == 422


@pytest.mark.real_commits
def test_in_workers_mode_the_web_process_leaves_jobs_to_the_workers(
    clean_app, world, override_settings
):
    override_settings(jobs_mode="workers")  # even with jobs_inline (the tests' default)
    client = clean_app.test_client()
    from tests.conftest import login

    headers = {**login(client, "centre"), "Prefer": "respond-async"}
    resp = _plan(client, headers, world.street, method="square", size_m=2000)
    assert resp.status_code == 202
    location = resp.headers["Location"]
    assert client.get(location, headers=headers).get_json()["status"] == "queued"

    assert Worker(clean_app, name="w").run(once=True) == 1
    job = client.get(location, headers=headers).get_json()
    assert job["status"] == "succeeded", job
    assert client.get(job["result_url"], headers=headers).status_code == 200
    with clean_app.app_context():
        assert db.session.execute(select(Job.attempts)).scalar_one() == 1
        db.session.remove()
