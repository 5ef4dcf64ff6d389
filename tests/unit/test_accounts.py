import stat

import pytest

from mlplat import accounts
from mlplat.errors import ConflictError, ValidationError
from mlplat.metadata import Database


@pytest.fixture
def db(tmp_path):
    d = Database(f"sqlite:///{tmp_path / 'm.db'}")
    d.migrate()
    yield d
    d.dispose()


def test_passwords_are_salted_and_checked(db) -> None:
    h1, h2 = accounts.hash_password("pw"), accounts.hash_password("pw")
    assert h1 != h2 and "pw" not in h1
    assert accounts.check_password("pw", h1) and not accounts.check_password("other", h1)
    assert not accounts.check_password("pw", "garbage")
    secret = accounts.create_account(db, "alice", "s3cret")
    assert secret == "s3cret"
    assert accounts.verify(db, "alice", "s3cret")
    assert not accounts.verify(db, "alice", "wrong")
    assert not accounts.verify(db, "bob", "s3cret")
    with pytest.raises(ConflictError, match="'alice' exists already"):
        accounts.create_account(db, "alice")
    with pytest.raises(ValidationError, match="not valid"):
        accounts.create_account(db, "Alice Smith")


def test_admin_is_created_once_with_a_private_password_file(db, tmp_path) -> None:
    secrets = tmp_path / "secrets"
    password = accounts.ensure_admin(db, secrets)
    assert password and len(password) >= 16
    path = secrets / "admin_password"
    assert path.read_text() == password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert accounts.verify(db, "admin", password)
    assert accounts.admin_names(db) == {"admin"}
    assert accounts.ensure_admin(db, secrets) is None  # printed once, never again
    assert path.read_text() == password
