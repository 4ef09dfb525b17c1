"""The ``lakeplane worker`` process: takes queued runs from Postgres and drives their engines.

- :mod:`lakeplane.worker.queue`: claiming within the limits, heartbeats, adopting expired leases;
  the statements, each fenced, are in :mod:`lakeplane.domain.runs.repository`;
- :mod:`lakeplane.worker.attempt`: one attempt of one run, from engine submit to result;
- :mod:`lakeplane.worker.process`: the loops of one worker process and its graceful drain;
- :mod:`lakeplane.worker.faults`: labelled crash points for the fault-injection tests.
"""

from lakeplane.worker.process import Worker

__all__ = ["Worker"]
