"""Test-only endpoints for ``bench/load`` (the anchor of its closed loop); never in production.

Mounted only when ``GRIDSERVE_BENCH_ENDPOINTS=1`` (``Settings.bench_endpoints``, off by
default: without it the path is a 404 and it is absent from the OpenAPI document).

``GET /api/v1/_bench/sync-static`` takes the same query and the same device token as
``GET /api/v1/sync/bundle``, and goes through the same before-request work (the token look-up,
the role check, the query's schema), but instead of building the bundle it answers with bytes
held in memory: those of the real incremental bundle its worker process built on its first
call (for that caller's cursor; an incremental sync with nothing new, when the bench calls it).
What the real endpoint spends beyond this anchor is the bundle's own work.
"""

from __future__ import annotations

from flask import Response, jsonify
from flask.views import MethodView

from api.common import BEARER, Blueprint
from api.sync import BundleArgs, BundleSchema
from gridserve.auth import current_principal
from gridserve.config import settings
from gridserve.services.field import bundle as bundle_service
from gridserve.timeutil import local_today

blp = Blueprint(
    "bench", __name__, description="Test-only endpoints for bench/load (GRIDSERVE_BENCH_ENDPOINTS)"
)

# (body bytes, ETag) of the first call in this process.
_captured: tuple[bytes, str] | None = None


def _capture(since: str | None, page_size: int | None) -> tuple[bytes, str]:
    """The real endpoint's answer for this caller and cursor, as bytes (its view's steps)."""
    principal = current_principal()
    today = local_today()
    held = bundle_service.holdings(principal, today)
    tag = bundle_service.etag(principal, since, today, held)
    size = page_size or settings().sync_page_size
    body = bundle_service.build(principal, since, today, size, held)
    return jsonify(BundleSchema().dump(body)).get_data(), tag


def reset() -> None:
    """Forget the captured answer (tests)."""
    global _captured
    _captured = None


@blp.route("/_bench/sync-static")
class SyncStatic(MethodView):
    @blp.roles(*bundle_service.READERS)
    @blp.arguments(BundleArgs, location="query")
    @blp.doc(security=BEARER)
    def get(self, args):
        """The bytes of an incremental bundle, from memory (captured on the first call)."""
        global _captured
        if _captured is None:
            _captured = _capture(args.get("since"), args.get("page_size"))
        data, tag = _captured
        return Response(data, 200, mimetype="application/json", headers={"ETag": f'"{tag}"'})
