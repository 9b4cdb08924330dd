"""Jobs: grid plans and place imports sent with `Prefer: respond-async`, polled to their end."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from gridserve import job_pool
from gridserve.db import transaction, utcnow
from gridserve.extensions import db
from gridserve.models import Job, User
from gridserve.services.accounts import jobs as job_service

ASYNC = {"Prefer": "respond-async"}
CSV = (
    "external_id,type,name,lon,lat\n"
    "JOB-1,household,1栋101,104.01,30.41\n"
    "JOB-2,shop,小卖部,104.02,30.42\n"
)


def _jobs(app) -> list[Job]:
    with app.app_context():
        return list(db.session.execute(select(Job)).scalars())


def _headers(auth_as, user: str, **extra: str) -> dict[str, str]:
    return {**auth_as(user), **extra}


def _poll(client, headers, location: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(location, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_a_grid_plan_sent_async_answers_202_and_its_job_leads_to_the_plan(client, auth_as, world):
    headers = _headers(auth_as, "centre", **ASYNC)
    resp = client.post(
        f"/api/v1/areas/{world.street}/grid-plans",
        json={"method": "square", "size_m": 2000, "name": "异步方格"},
        headers=headers,
    )
    assert resp.status_code == 202, resp.get_json()
    location = resp.headers["Location"]
    body = resp.get_json()
    assert location == f"/api/v1/jobs/{body['id']}"
    assert resp.headers["Preference-Applied"] == "respond-async"
    assert body["kind"] == "grid_plan"
    assert body["status"] == "queued"
    assert body["params"]["method"] == "square"
    assert body["area_id"] == world.street

    job = _poll(client, headers, location)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["error"] is None
    assert job["finished_at"] >= job["started_at"] >= job["created_at"]
    plan = client.get(job["result_url"], headers=headers)
    assert plan.status_code == 200
    assert plan.get_json()["name"] == "异步方格"
    assert plan.get_json()["status"] == "draft"
    assert plan.get_json()["metrics"]["cell_count"] > 1
    # The requester's list shows it.
    mine = client.get("/api/v1/jobs", headers=headers).get_json()
    assert [j["id"] for j in mine] == [body["id"]]


def test_without_the_header_a_grid_plan_is_made_as_before(clean_app, client, auth_as, world):
    resp = client.post(
        f"/api/v1/areas/{world.street}/grid-plans",
        json={"method": "square", "size_m": 2000},
        headers=auth_as("centre"),
    )
    assert resp.status_code == 201
    assert "Location" not in resp.headers
    assert resp.get_json()["method"] == "square"
    assert _jobs(clean_app) == []


def test_other_preferences_alone_do_not_make_a_job(client, auth_as, world):
    resp = client.post(
        f"/api/v1/areas/{world.street}/grid-plans",
        json={"method": "square", "size_m": 2000},
        headers=_headers(auth_as, "centre", Prefer="return=minimal, wait=5"),
    )
    assert resp.status_code == 201
    among = client.post(
        f"/api/v1/areas/{world.street}/grid-plans",
        json={"method": "square", "size_m": 2000},
        headers=_headers(auth_as, "centre", Prefer="wait=5, Respond-Async"),
    )
    assert among.status_code == 202


def test_a_place_import_sent_async_gives_its_report_at_the_result_url(client, auth_as, world):
    headers = _headers(auth_as, "centre", **ASYNC)
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=CSV.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["kind"] == "place_import"
    job = _poll(client, headers, resp.headers["Location"])
    assert job["status"] == "succeeded", job
    assert job["result_url"] == f"/api/v1/jobs/{job['id']}/result"
    report = client.get(job["result_url"], headers=headers)
    assert report.status_code == 200
    assert report.get_json()["created"] == 2
    assert report.get_json()["rejected_count"] == 0
    places = client.get("/api/v1/places?external_id=JOB-1", headers=headers).get_json()
    assert [p["name"] for p in places] == ["1栋101"]


def test_a_geojson_import_sent_async_works_too(client, auth_as, world):
    headers = _headers(auth_as, "centre", **ASYNC)
    collection = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"type": "household", "external_id": "GJ-1"},
             "geometry": {"type": "Point", "coordinates": [104.01, 30.41]}},
        ],
    }  # fmt: skip
    resp = client.post(f"/api/v1/areas/{world.street}/places", json=collection, headers=headers)
    assert resp.status_code == 202
    job = _poll(client, headers, resp.headers["Location"])
    assert job["status"] == "succeeded", job
    assert client.get(job["result_url"], headers=headers).get_json()["created"] == 1


def test_an_import_that_cannot_be_read_ends_failed_with_the_error_it_would_answer(
    clean_app, client, auth_as, world
):
    headers = _headers(auth_as, "centre", **ASYNC)
    # The same file without the header: 422 invalid_csv.
    sync = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=b"a,b\n1,2\n",
        headers={**auth_as("centre"), "Content-Type": "text/csv"},
    )
    assert sync.status_code == 422
    resp = client.post(
        f"/api/v1/areas/{world.street}/places",
        data=b"a,b\n1,2\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 202
    job = _poll(client, headers, resp.headers["Location"])
    assert job["status"] == "failed"
    assert job["result_url"] is None
    assert job["error"]["code"] == sync.get_json()["error"]["code"] == "invalid_csv"
    assert job["error"]["status"] == 422
    assert job["error"]["details"]["missing_columns"] == ["lat", "lon", "type"]
    result = client.get(f"/api/v1/jobs/{job['id']}/result", headers=headers)
    assert result.status_code == 409
    assert result.get_json()["error"]["code"] == "job_not_succeeded"
    # The payload is dropped once the job has ended.
    with clean_app.app_context():
        assert db.session.get(Job, job["id"]).payload is None


def test_a_geojson_that_is_not_a_collection_fails_its_job(client, auth_as, world):
    headers = _headers(auth_as, "centre", **ASYNC)
    resp = client.post(
        f"/api/v1/areas/{world.street}/places", json={"type": "Point"}, headers=headers
    )
    assert resp.status_code == 202
    job = _poll(client, headers, resp.headers["Location"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_geojson"
    assert job["error"]["status"] == 422


def test_an_import_into_a_district_fails_its_job_like_the_call(client, auth_as, world):
    headers = _headers(auth_as, "admin", **ASYNC)
    resp = client.post(
        f"/api/v1/areas/{world.district}/places",
        data=CSV.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 202
    job = _poll(client, headers, resp.headers["Location"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_import_area"


def test_another_users_job_is_not_found_but_admin_reads_it(client, auth_as, world):
    headers = _headers(auth_as, "centre", **ASYNC)
    resp = client.post(
        f"/api/v1/areas/{world.street}/grid-plans",
        json={"method": "square", "size_m": 2000},
        headers=headers,
    )
    location = resp.headers["Location"]
    for other in ("district", "station_a", "coordinator", "bank"):
        got = client.get(location, headers=auth_as(other))
        assert got.status_code == 404, other
        assert got.get_json()["error"]["code"] == "not_found"
        assert client.get(location + "/result", headers=auth_as(other)).status_code == 404
        assert client.get("/api/v1/jobs", headers=auth_as(other)).get_json() == []
    assert client.get(location, headers=auth_as("admin")).status_code == 200
    assert client.get("/api/v1/jobs/999999", headers=headers).status_code == 404


def test_roles_are_refused_before_the_input_is_read(clean_app, client, auth_as, world):
    for user in ("station_a", "worker_a", "bank"):  # the coordinator may draft layouts
        resp = client.post(
            f"/api/v1/areas/{world.street}/grid-plans",
            data=b"{not json",
            headers=_headers(auth_as, user, **ASYNC, **{"Content-Type": "application/json"}),
        )
        assert resp.status_code == 403, user
        assert resp.get_json()["error"]["code"] == "forbidden_role"
    for user in ("worker_a", "coordinator", "bank"):
        resp = client.post(
            f"/api/v1/areas/{world.street}/places",
            data=b"\xff\xfe garbage",
            headers=_headers(auth_as, user, **ASYNC, **{"Content-Type": "text/csv"}),
        )
        assert resp.status_code == 403, user
        assert resp.get_json()["error"]["code"] == "forbidden_role"
    assert _jobs(clean_app) == []


def test_bad_input_and_areas_out_of_scope_are_refused_before_a_job_is_made(
    clean_app, client, auth_as, world
):
    headers = _headers(auth_as, "station_a", **ASYNC)
    out = client.post(
        f"/api/v1/areas/{world.community_b}/places",
        data=CSV.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert out.status_code == 404
    bad = client.post(
        f"/api/v1/areas/{world.street}/grid-plans",
        json={"method": "triangles"},
        headers=_headers(auth_as, "centre", **ASYNC),
    )
    assert bad.status_code == 422
    assert bad.get_json()["error"]["code"] == "validation_error"
    assert _jobs(clean_app) == []


def test_a_terminal_may_not_read_jobs(client, terminal):
    resp = client.get("/api/v1/jobs/1", headers=terminal)
    assert resp.status_code == 403
    assert resp.get_json()["error"]["code"] == "device_token_not_allowed"


def _queued_job(world, user: str, **values) -> int:
    requester = db.session.execute(select(User).where(User.username == user)).scalar_one()
    values.setdefault("status", "queued")
    job = Job(
        kind="grid_plan",
        requested_by=requester.id,
        area_id=world.street,
        params={"method": "square", "size_m": 2000},
        payload={"method": "square", "size_m": 2000},
        **values,
    )
    db.session.add(job)
    db.session.flush()
    return job.id


def test_a_job_runs_with_the_requesters_rights_as_they_are_when_it_runs(ctx, world):
    with transaction():
        job_id = _queued_job(world, "centre")
        centre = db.session.execute(select(User).where(User.username == "centre")).scalar_one()
        centre.is_active = False
    assert job_service.run_job(job_id) is True
    job = db.session.get(Job, job_id)
    assert job.status == "failed"
    assert job.error["code"] == "account_disabled"
    assert job.error["status"] == 401

    with transaction():
        job_id = _queued_job(world, "station_a")  # a station may not plan
    job_service.run_job(job_id)
    job = db.session.get(Job, job_id)
    assert job.status == "failed"
    assert (job.error["code"], job.error["status"]) == ("forbidden_role", 403)


def test_a_job_is_run_once_and_a_dead_runners_job_is_taken_over(ctx, world):
    with transaction():
        job_id = _queued_job(world, "centre")
    assert job_service.run_job(job_id) is True
    assert job_service.run_job(job_id) is False  # finished: nothing to claim
    assert db.session.get(Job, job_id).attempts == 1

    with transaction():
        stale = _queued_job(
            world, "centre", status="running", claimed_by="gone:1:1", attempts=1,
            lease_until=utcnow(), started_at=utcnow(),
        )  # fmt: skip
        live = _queued_job(
            world, "centre", status="running", claimed_by="busy:1:1", attempts=1,
            lease_until=utcnow() + job_service._lease(), started_at=utcnow(),
        )  # fmt: skip
    assert job_service.next_claimable() == stale
    assert job_service.run_job(live) is False
    assert job_service.run_job(stale) is True
    job = db.session.get(Job, stale)
    assert (job.status, job.attempts, job.claimed_by) == ("succeeded", 2, job_service.runner_name())
    assert job_service.next_claimable() is None


@pytest.mark.real_commits
def test_the_thread_pool_runs_a_job_after_the_request_commits(clean_app, world, override_settings):
    override_settings(jobs_inline=False)
    client = clean_app.test_client()
    from tests.conftest import login

    headers = {**login(client, "centre"), **ASYNC}
    try:
        resp = client.post(
            f"/api/v1/areas/{world.street}/grid-plans",
            json={"method": "hex", "size_m": 2500},
            headers=headers,
        )
        assert resp.status_code == 202
        job = _poll(client, headers, resp.headers["Location"], timeout=120)
        assert job["status"] == "succeeded", job
        assert client.get(job["result_url"], headers=headers).get_json()["method"] == "hex"
    finally:
        job_pool.shutdown(wait=True)


@pytest.mark.real_commits
def test_progress_is_committed_apart_from_the_work_on_postgresql(clean_app, world):
    """PostgreSQL: another connection sees the progress while the work's transaction is open;
    SQLite (one writer, held by the work) shows started and finished only."""
    with clean_app.app_context():
        me = job_service.runner_name()
        with transaction():
            job_id = _queued_job(
                world, "centre", status="running", claimed_by=me, attempts=1,
                lease_until=utcnow(), started_at=utcnow(),
            )  # fmt: skip
        report = job_service._reporter(job_id, me)
        postgresql = db.engine.dialect.name == "postgresql"
        with transaction():
            db.session.execute(select(Job).where(Job.id == job_id)).scalar_one()  # work open
            report(0.5, "drawing_cells")
            if postgresql:  # (SQLite: another connection would wait for the work's lock)
                with db.engine.connect() as other:
                    seen = other.execute(
                        select(Job.progress, Job.message, Job.lease_until).where(Job.id == job_id)
                    ).one()
                assert (seen.progress, seen.message) == (0.5, "drawing_cells")
                assert seen.lease_until > utcnow()  # the lease is renewed with each report
        if not postgresql:
            assert db.session.get(Job, job_id).progress == 0.0
        report(1.5, "x" * 300)  # clamped: only the finish says 1
        assert db.session.get(Job, job_id).progress <= 0.99
        db.session.remove()
