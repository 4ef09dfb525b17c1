"""A typed client of the Lakeplane API, blocking (:class:`Client`) or asyncio (:class:`AsyncClient`).

    from lakeplane.client import Client

    with Client("http://127.0.0.1:8080", token="lp_...") as lp:
        run = lp.runs.submit("demo", job_id)
        print(lp.runs.wait("demo", run.id).state)

Answers decode into the API's own schemas (``RunOut``, ``JobOut``, ...). Lists are
iterators over the cursor pages. A refused request raises the :mod:`lakeplane.errors`
class its problem document names; a URL that is not a Lakeplane API raises
:class:`IncompatibleServer`, one that does not answer :class:`ServerUnreachable`.
"""

from lakeplane.client._api import TERMINAL, ScheduleDetail
from lakeplane.client._clients import AsyncClient, Client
from lakeplane.client._core import RetryPolicy, ServerInfo
from lakeplane.client._errors import IncompatibleServer, ServerUnreachable, title_of

__all__ = [
    "TERMINAL",
    "AsyncClient",
    "Client",
    "IncompatibleServer",
    "RetryPolicy",
    "ScheduleDetail",
    "ServerInfo",
    "ServerUnreachable",
    "title_of",
]
