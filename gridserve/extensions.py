"""Flask extensions, created unbound here and initialised in ``create_app``."""

from __future__ import annotations

from flask_compress import Compress
from flask_migrate import Migrate
from flask_smorest import Api as _SmorestApi
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from gridserve.errors import ErrorEnvelopeSchema

# Named constraints so that Alembic can alter them on SQLite (batch mode) too.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Api(_SmorestApi):
    """flask-smorest's Api with our error envelope instead of its own.

    The handlers live in :mod:`gridserve.errors`; this class only stops
    flask-smorest from registering a second, different envelope, and tells the
    OpenAPI document what our errors look like.
    """

    ERROR_SCHEMA = ErrorEnvelopeSchema

    def _register_error_handlers(self) -> None:
        """Ours are registered by :func:`gridserve.errors.init_app`."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
compress = Compress()
