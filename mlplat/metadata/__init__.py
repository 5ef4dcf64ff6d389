"""The metadata database: SQLAlchemy models and their Alembic migrations."""

from mlplat.metadata.db import Database
from mlplat.metadata.models import Account, Base, LakeTable

__all__ = ["Account", "Base", "Database", "LakeTable"]
