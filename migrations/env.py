"""Alembic environment (Flask-Migrate), with GeoAlchemy2's helpers for both backends.

`gridserve db upgrade` runs this. Spatial tables are created through
GeoAlchemy2's operations so that PostGIS gets GiST indexes and SpatiaLite gets
registered geometry columns with R*Tree indexes, from the same revision files.

Expand, then contract (README.md here): a revision runs while the previous release still
serves, so it adds and moves but drops or renames nothing that release uses; a drop or rename
is declared in the revision's module-level ``CONTRACTS = {"table.column": "<earlier revision
whose release stopped using it>"}`` and checked by ``tests/test_migrations.py``.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from geoalchemy2 import alembic_helpers

config = context.config
if config.config_file_name:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def _include_object(obj, name, obj_type, reflected, compare_to):
    # Tables that are not ours: SpatiaLite's metadata, PostGIS's, the job store.
    if obj_type == "table" and (
        name in {"spatial_ref_sys", "scheduler_jobs"}
        or name.startswith(("geometry_columns", "spatial", "sql_statements", "views_geometry"))
        or name.startswith(("virts_", "idx_", "SpatialIndex", "ElementaryGeometries"))
        or name.startswith(("KNN", "data_licenses", "vector_layers"))
    ):
        return False
    return alembic_helpers.include_object(obj, name, obj_type, reflected, compare_to)


def run_migrations_offline():
    context.configure(
        url=str(target_db.engine.url),
        target_metadata=target_db.metadata,
        literal_binds=True,
        include_object=_include_object,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(ctx, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")
            return
        alembic_helpers.writer.process_revision_directives(ctx, revision, directives)

    with target_db.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_db.metadata,
            include_object=_include_object,
            process_revision_directives=process_revision_directives,
            render_item=alembic_helpers.render_item,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
