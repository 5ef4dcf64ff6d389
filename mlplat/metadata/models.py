"""SQLAlchemy models of the metadata database.

Every change here ships with an Alembic migration in ``migrations/versions``;
``tests/unit/test_metadata.py`` fails when the two disagree.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A local login for the hub (the embedded authenticator reads these)."""

    __tablename__ = "accounts"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LakeTable(Base):
    """A named table of the data lake, readable by Spark."""

    __tablename__ = "lake_tables"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    partition_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    team: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
