"""The served API description, the offline docs page, compact gzip responses, lists."""

from __future__ import annotations

import gzip
import json


def test_openapi_document_describes_the_api(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/health", "/api/v1/auth/token", "/api/v1/me", "/api/v1/areas"):
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # The error envelope is documented, and list endpoints document the list convention.
    schemas = spec["components"]["schemas"]
    assert "ErrorEnvelope" in schemas and "error" in schemas["ErrorEnvelope"]["properties"]
    params = {p["name"] for p in spec["paths"]["/api/v1/areas"]["get"]["parameters"]}
    assert {"page", "page_size", "sort", "level", "parent"} <= params
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]


def test_docs_page_uses_local_assets_only(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/api/v1/docs/assets/swagger-ui.css").status_code == 200


def test_large_responses_are_gzipped_when_asked(client, auth_as):
    headers = auth_as("admin") | {"Accept-Encoding": "gzip"}
    resp = client.get("/api/v1/openapi.json", headers=headers)
    assert resp.headers.get("Content-Encoding") == "gzip"
    spec = json.loads(gzip.decompress(resp.get_data()))
    assert "paths" in spec


def test_json_is_compact_and_keeps_chinese_readable(client, auth_as, world):
    resp = client.get(f"/api/v1/areas/{world.community_a}", headers=auth_as("admin"))
    raw = resp.get_data(as_text=True)
    assert "甲社区" in raw
    assert ": " not in raw and ", " not in raw


def test_lists_paginate_with_metadata_header(client, auth_as, world):
    headers = auth_as("admin")
    resp = client.get("/api/v1/areas?page=2&page_size=3&sort=code", headers=headers)
    assert resp.status_code == 200
    assert [a["code"] for a in resp.get_json()] == ["S1C2"]
    meta = json.loads(resp.headers["X-Pagination"])
    assert meta["total"] == 4 and meta["total_pages"] == 2 and meta["page"] == 2


def test_lists_sort_both_ways_and_refuse_unknown_fields(client, auth_as, world):
    headers = auth_as("admin")
    desc = client.get("/api/v1/areas?sort=-code", headers=headers).get_json()
    assert [a["code"] for a in desc] == ["S1C2", "S1C1", "S1", "D1"]
    bad = client.get("/api/v1/areas?sort=password", headers=headers)
    assert bad.status_code == 422
    assert "sort" in bad.get_json()["error"]["details"]["fields"]


def test_page_size_has_a_ceiling(client, auth_as):
    resp = client.get("/api/v1/areas?page_size=100000", headers=auth_as("admin"))
    assert resp.status_code == 422
    assert resp.get_json()["error"]["code"] == "validation_error"


def test_the_document_lists_errors_bounds_pagination_and_visit_items(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            codes = set(op["responses"])
            assert "default" not in codes and {"422", "431", "503"} <= codes, (method, path)
            if op.get("security"):
                assert {"401", "404"} <= codes, (method, path)
            if method in ("post", "put", "patch"):
                assert {"413", "415"} <= codes, (method, path)
    area = spec["paths"]["/api/v1/areas/{area_id}"]
    params = area.get("parameters") or area["get"]["parameters"]
    assert params[0]["schema"] | {} == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    listing = spec["paths"]["/api/v1/areas"]["get"]
    query = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert query["page"]["minimum"] == 1 and query["page"]["maximum"] == 2**31 - 1
    assert (query["page_size"]["minimum"], query["page_size"]["maximum"]) == (1, 500)
    assert query["parent"]["minimum"] == 1
    header = listing["responses"]["200"]["headers"]["X-Pagination"]
    assert header["schema"] == {"type": "string"}
    schemas = spec["components"]["schemas"]
    items = schemas["Upload"]["properties"]["items"]["items"]
    assert items == {"$ref": "#/components/schemas/VisitItem"}
    visit = schemas["VisitItem"]
    assert {"uuid", "type", "started_at"} <= set(visit["required"])
    assert visit["properties"]["type"]["enum"] and visit["properties"]["uuid"]["format"] == "uuid"


def test_synchronous_imports_are_documented_201_created_200_nothing_new(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    places = spec["paths"]["/api/v1/areas/{area_id}/places"]["post"]["responses"]
    enterprises = spec["paths"]["/api/v1/outreach/programmes/{programme_id}/enterprises"]["post"]
    for responses in (places, enterprises["responses"]):
        assert {"200", "201"} <= set(responses)
        assert "created" in responses["201"]["description"]
        assert "nothing new" in responses["200"]["description"]
    assert "202" in places  # big ones (and Prefer: respond-async) still answer with a job
