"""Institutions: the regulator and the banks that co-organise outreach and send SMS."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gridserve.extensions import db
from gridserve.models.base import TimestampMixin

INSTITUTION_LEVELS = ("province", "city", "county")
# ``department``: a government department (city management, housing, police liaison …) that
# cases are dispatched to; its contacts see exactly those cases.
INSTITUTION_KINDS = (
    "regulator",
    "policy_bank",
    "commercial_bank",
    "credit_union",
    "village_bank",
    "department",
)


class Institution(TimestampMixin, db.Model):
    __tablename__ = "institutions"
    __table_args__ = (
        CheckConstraint("level IN ('province', 'city', 'county')", name="level"),
        CheckConstraint(
            "kind IN ('regulator', 'policy_bank', 'commercial_bank', 'credit_union',"
            " 'village_bank', 'department')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    short_name: Mapped[str] = mapped_column(String(60), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)

    aliases: Mapped[list[InstitutionAlias]] = relationship(
        back_populates="institution", cascade="all, delete-orphan", order_by="InstitutionAlias.id"
    )
    contacts: Mapped[list[InstitutionContact]] = relationship(
        back_populates="institution", cascade="all, delete-orphan", order_by="InstitutionContact.id"
    )


class InstitutionAlias(db.Model):
    """Another name an institution is known by (达商行 = 达州市商业银行).

    ``normalized`` is unique across all institutions, so a name always resolves
    to at most one institution.
    """

    __tablename__ = "institution_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    alias: Mapped[str] = mapped_column(String(200), nullable=False)
    normalized: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)

    institution: Mapped[Institution] = relationship(back_populates="aliases")


class InstitutionContact(TimestampMixin, db.Model):
    """A named contact person (联系人) of an institution."""

    __tablename__ = "institution_contacts"
    __audit_redact__ = frozenset({"phone_enc"})

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    title: Mapped[str | None] = mapped_column(String(100))
    phone_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, doc="Encrypted (gridserve.crypto); clear only to its managers"
    )
    email: Mapped[str | None] = mapped_column(String(200))

    institution: Mapped[Institution] = relationship(back_populates="contacts")
