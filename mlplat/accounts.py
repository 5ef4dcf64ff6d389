"""Local accounts for the embedded hub: salted scrypt hashes in the metadata DB."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from mlplat.errors import ConflictError, ValidationError
from mlplat.metadata import Account, Database

ADMIN_NAME = "admin"
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_N, _R, _P = 2**14, 8, 1


def validate_username(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(
            f"user name {name!r} is not valid: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    return name


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(got.hex(), digest)


def new_password() -> str:
    return secrets.token_urlsafe(15)


def create_account(db: Database, username: str, password: str | None = None, admin: bool = False) -> str:
    """Create a login; returns the password (generated when not given)."""
    validate_username(username)
    password = password or new_password()
    with db.session() as s:
        if s.get(Account, username) is not None:
            raise ConflictError(f"user {username!r} exists already")
        s.add(Account(username=username, password_hash=hash_password(password), is_admin=admin))
    return password


def verify(db: Database, username: str, password: str) -> bool:
    with db.session() as s:
        account = s.get(Account, username)
        return account is not None and check_password(password, account.password_hash)


def admin_names(db: Database) -> set[str]:
    from sqlalchemy import select

    with db.session() as s:
        return set(s.scalars(select(Account.username).where(Account.is_admin.is_(True))))


def write_secret(path: Path, value: str) -> None:
    """Write a secret readable by its owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    os.replace(tmp, path)


def read_or_create_secret(path: Path, nbytes: int = 32) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_hex(nbytes)
    write_secret(path, value)
    return value


def ensure_admin(db: Database, secrets_dir: Path) -> str | None:
    """Create the admin account on first use; return its password only then."""
    with db.session() as s:
        if s.get(Account, ADMIN_NAME) is not None:
            return None
    password = create_account(db, ADMIN_NAME, admin=True)
    write_secret(secrets_dir / "admin_password", password)
    return password
