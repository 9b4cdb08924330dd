"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry  # noqa: F401

import gridserve.db  # noqa: F401  (UTCDateTime)
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}

# Expand, then contract (migrations/README.md): to drop or rename a table or column the
# previous release no longer uses, declare it here with the earlier revision whose release
# stopped using it, e.g. CONTRACTS = {"households.old_note": "0021_notes_moved"}.


def upgrade():
    ${upgrades if upgrades else "pass"}


def downgrade():
    ${downgrades if downgrades else "pass"}
