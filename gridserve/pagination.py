"""The one list convention: ``page`` / ``page_size`` and ``sort``.

flask-smorest's ``@blp.paginate(SelectPage)`` runs a service's SELECT one page
at a time and puts the totals in the ``X-Pagination`` header. ``sort`` is a
comma-separated list of field names, ``-`` before a name for descending; each
service names the fields it allows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask_smorest import Page
from sqlalchemy import Select, func, select
from sqlalchemy.sql.elements import ColumnElement

from gridserve.errors import ValidationFailed
from gridserve.extensions import db


class SelectPage(Page):
    """A page of a SQLAlchemy ``Select``: one COUNT, one LIMIT/OFFSET query.

    ``present``, when a subclass sets it, gets the page's rows and returns them ready for
    the resource's schema (e.g. a phone shown as the caller may see it), for the whole
    page at once: schemas only read attributes, they never call a service per row.
    """

    present: Callable[[list], list] | None = None
    # Keys first: the page's primary keys and the total by one filtered, ordered SELECT (an
    # index can answer it without reading the rows it skips), then those rows by key, in that
    # order; a page past the end counts apart.
    by_key: bool = False
    _keys: list | None = None

    def _key(self):
        return self.collection.column_descriptions[0]["entity"].__mapper__.primary_key[0]

    @property
    def items(self):
        page, first = self.page_params.page_size, self.page_params.first_item
        if self.by_key:
            key = self._key()
            ids = self._keys if self._keys is not None else []
            found = {
                getattr(row, key.key): row
                for row in db.session.execute(
                    select(self.collection.column_descriptions[0]["entity"]).where(key.in_(ids))
                ).scalars()
            } if ids else {}  # fmt: skip
            rows = [found[i] for i in ids if i in found]
        else:
            stmt = self.collection.limit(page).offset(first)
            rows = list(db.session.execute(stmt).scalars())
        return rows if self.present is None else self.present(rows)

    @property
    def item_count(self) -> int:
        if self.by_key:
            key = self._key()
            page, first = self.page_params.page_size, self.page_params.first_item
            got = db.session.execute(
                self.collection.with_only_columns(key, func.count().over())
                .limit(page)
                .offset(first)
            ).all()
            self._keys = [r[0] for r in got]
            if got:
                return got[0][1]
            counted = self.collection.order_by(None).with_only_columns(key)
        else:
            counted = self.collection.order_by(None)
        count = select(func.count()).select_from(counted.subquery())
        return db.session.execute(count).scalar_one()


class RowPage(SelectPage):
    """A page of a SELECT of several columns: each row a dict of its columns (the records
    behind a scorecard's figure, whatever their table)."""

    @property
    def items(self):
        stmt = self.collection.limit(self.page_params.page_size).offset(self.page_params.first_item)
        return [dict(row) for row in db.session.execute(stmt).mappings()]


def apply_sort(
    stmt: Select,
    sort: str | None,
    allowed: Mapping[str, ColumnElement],
    default: str,
    tiebreak: ColumnElement,
) -> Select:
    """Order ``stmt`` by ``sort`` (e.g. ``"-created_at,name"``), refusing unknown fields."""
    terms = [t.strip() for t in (sort or default).split(",") if t.strip()]
    order = []
    for term in terms:
        name = term.lstrip("-+")
        column = allowed.get(name)
        if column is None:
            raise ValidationFailed(
                f"Cannot sort by {name!r}.",
                details={"fields": {"sort": [f"Sortable fields: {', '.join(sorted(allowed))}."]}},
            )
        order.append(column.desc() if term.startswith("-") else column.asc())
    return stmt.order_by(*order, tiebreak)
