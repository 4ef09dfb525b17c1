"""One contract suite per interface, for every implementation, built-in or third-party.

A plugin's tests subclass the suite and provide the fixtures it names; every test then
runs against the plugin's real backend::

    from lakeplane.testing.contracts import ObjectStoreContract

    class TestMyStore(ObjectStoreContract):
        @pytest_asyncio.fixture(loop_scope="session")
        async def object_store(self, my_service):
            async with MyObjectStore(MyParams(...)) as store:
                yield store
        ...

The suites run their async tests on pytest-asyncio's session event loop, so async
fixtures that hand over an opened client must use ``loop_scope="session"`` too.
A backend that cannot offer a fixture (say, a catalog without authentication has no
"wrong credentials") overrides it with ``pytest.skip("why")``.
"""

from lakeplane.testing.contracts._support import (
    assert_checks_fail,
    assert_checks_pass,
    assert_no_secrets,
    assert_registered,
    assert_unreachable,
    secret_values,
    unreachable_url,
)
from lakeplane.testing.contracts.auth import PasswordAuthProviderContract, RedirectAuthProviderContract
from lakeplane.testing.contracts.catalog import CatalogContract
from lakeplane.testing.contracts.engine import EngineContract, JobFactory, JobKind, fixed_jobs
from lakeplane.testing.contracts.object_store import ObjectStoreContract
from lakeplane.testing.contracts.secret_store import SecretStoreContract

__all__ = [
    "CatalogContract",
    "EngineContract",
    "JobFactory",
    "JobKind",
    "ObjectStoreContract",
    "PasswordAuthProviderContract",
    "RedirectAuthProviderContract",
    "SecretStoreContract",
    "assert_checks_fail",
    "assert_checks_pass",
    "assert_no_secrets",
    "assert_registered",
    "assert_unreachable",
    "fixed_jobs",
    "secret_values",
    "unreachable_url",
]
