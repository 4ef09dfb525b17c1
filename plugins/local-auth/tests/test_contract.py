"""The password-provider contract, with the core's credential store on a real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from lakeplane.db.engine import create_engine, sessionmaker
from lakeplane.db.models import User
from lakeplane.domain.auth.services import DbCredentialStore
from lakeplane.testing.app import create_database, make_config, make_user
from lakeplane.testing.contracts import PasswordAuthProviderContract
from lakeplane_local_auth import LocalAuthProvider

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
async def sessions(postgres_service: Any) -> AsyncIterator[Any]:
    config = make_config(await create_database(postgres_service.url, "lp_local_contract"))
    engine = create_engine(config.database)
    yield sessionmaker(engine)
    await engine.dispose()


@pytest.fixture(scope="module")
def local_provider(sessions: Any) -> LocalAuthProvider:
    provider = LocalAuthProvider()
    provider.bind(DbCredentialStore(sessions, provider.name))
    return provider


async def _user(sessions: Any, provider: LocalAuthProvider, name: str, disabled: bool) -> tuple[str, str]:
    async with sessions() as db:
        user, _ = await make_user(db, name)
    password_hash = await provider.hash_password(PASSWORD)
    async with sessions() as db, db.begin():
        await db.execute(
            update(User).where(User.id == user.id).values(password_hash=password_hash, disabled=disabled)
        )
    return user.username, PASSWORD


@pytest.fixture(scope="module")
async def known_user(sessions: Any, local_provider: LocalAuthProvider) -> tuple[str, str]:
    return await _user(sessions, local_provider, "contract-known", disabled=False)


@pytest.fixture(scope="module")
async def disabled_user(sessions: Any, local_provider: LocalAuthProvider) -> tuple[str, str]:
    return await _user(sessions, local_provider, "contract-disabled", disabled=True)


class TestLocalContract(PasswordAuthProviderContract):
    @pytest.fixture
    def password_provider(self, local_provider: LocalAuthProvider) -> LocalAuthProvider:
        return local_provider
