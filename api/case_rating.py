"""The public case rating page at ``/r/<code>`` (no token, outside ``/api/v1`` and its OpenAPI
document, like Open311): the short code from a feedback text opens it.

``GET /r/<code>``: a small Chinese, mobile-first HTML page (JSON when the client asks for
``application/json``) with the case's title, category and closing date — no personal data —
and three buttons: a plain form POST, no script (the project's CSP allows a page's form to
post to this origin). ``POST /r/<code>`` ``{rating: 1|2|3, comment?}`` as a form (answered in
HTML) or JSON (answered in JSON): one rating per case (409 ``already_rated``), 404
``unknown_code``, 422 ``invalid_rating``. Rate-limited per client address like Open311 (429 with
Retry-After). The rules are in :mod:`gridserve.services.cases.feedback`.
"""

from __future__ import annotations

from html import escape
from typing import Any

from flask import Response, jsonify, request
from flask.views import MethodView

from api.common import Blueprint
from gridserve.auth import accepts, public
from gridserve.errors import AppError
from gridserve.services.cases import feedback as service
from gridserve.services.cases import open311

public_blp = Blueprint(
    "case_rating", __name__, description="The public case rating page (no token): /r/<code>"
)

RATE_NS = "rating:address"
STYLE = (
    "body{font-family:sans-serif;margin:0;padding:1rem;max-width:32rem;margin:auto;"
    "font-size:1.1rem;color:#222}h1{font-size:1.3rem}dl{margin:1rem 0}dt{color:#666;"
    "font-size:.9rem}dd{margin:0 0 .6rem 0}button{display:block;width:100%;padding:.9rem;"
    "margin:.5rem 0;font-size:1.1rem;border:1px solid #888;border-radius:.5rem;background:#f4f4f4}"
    "textarea{width:100%;box-sizing:border-box;min-height:4rem;font-size:1rem}"
    ".note{color:#555}"
)


def _wants_json() -> bool:
    if request.method == "POST":
        return request.is_json
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _html(title: str, inner: str, status: int = 200) -> Response:
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{inner}</body></html>"
    )
    return Response(page, status=status, mimetype="text/html")


def _case(data: dict[str, Any]) -> str:
    return (
        f"<dl><dt>事项</dt><dd>{escape(data['title'])}</dd>"
        f"<dt>类别</dt><dd>{escape(data['category'])}</dd>"
        f"<dt>办结日期</dt><dd>{escape(data['closed_on'] or '')}</dd></dl>"
    )


def _form(data: dict[str, Any]) -> str:
    if data["rated"]:
        return '<p class="note">此事项已评价，感谢您的反馈。</p>'
    buttons = "".join(
        f'<button type="submit" name="rating" value="{n}">{label}</button>'
        for n, label in service.RATINGS.items()
    )
    return (
        f'<form method="post" action="/r/{escape(data["code"])}">'
        '<label for="comment">意见（可不填）</label>'
        '<textarea id="comment" name="comment" maxlength="500"></textarea>'
        f"{buttons}</form>"
    )


def _error(exc: AppError) -> Response:
    if _wants_json():
        raise exc
    messages = {
        "already_rated": "此事项已评价过，每个事项只能评价一次。",
        "unknown_code": "评价码无效，请核对短信中的评价码。",
        "invalid_rating": "请选择满意、基本满意或不满意。",
        "rate_limited": "请求过于频繁，请稍后再试。",
    }
    text = messages.get(exc.code, "请求未能完成，请稍后再试。")
    response = _html("办件评价", f"<h1>办件评价</h1><p>{escape(text)}</p>", exc.status)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    if exc.persist:
        from flask import g

        g.persist_on_error = True
    return response


@public_blp.route("/<string:code>")
class RatingPage(MethodView):
    @public
    def get(self, code):
        """The rating page of a feedback code: the case (no personal data) and three buttons."""
        try:
            open311.count_request(request.remote_addr, namespace=RATE_NS)
            data = service.page(code)
        except AppError as exc:
            return _error(exc)
        if _wants_json():
            return jsonify(data)
        body = f"<h1>办件评价</h1>{_case(data)}{_form(data)}"
        return _html("办件评价", body)

    @public
    @accepts("application/x-www-form-urlencoded", "multipart/form-data", "application/json")
    def post(self, code):
        """Rate the case once: ``rating`` 1 satisfied, 2 fairly satisfied, 3 not satisfied."""
        try:
            open311.count_request(request.remote_addr, namespace=RATE_NS)
            if request.is_json:
                body = request.get_json(silent=True)
                body = body if isinstance(body, dict) else {}
            else:
                body = {key: request.form.get(key) for key in request.form}
            data = service.rate_by_code(code, body.get("rating"), body.get("comment") or "")
        except AppError as exc:
            return _error(exc)
        if _wants_json():
            return jsonify(data)
        label = service.RATINGS[data["rating"]]
        body_html = f"<h1>感谢您的评价</h1>{_case(data)}<p>您的评价：{escape(label)}</p>"
        return _html("感谢您的评价", body_html)
