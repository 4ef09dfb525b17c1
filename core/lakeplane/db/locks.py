"""Every Postgres advisory-lock id the platform takes, so no two features pick the same one.

Postgres keeps one-key locks (``pg_advisory_xact_lock(bigint)``) and two-key locks
(``pg_advisory_xact_lock(int, int)``) apart, so :data:`BOOTSTRAP` and
:data:`WORKER_NAMESPACE` share a number without sharing a lock.
"""

from __future__ import annotations

from typing import Final

#: One key: the audit chain, linked one transaction at a time. The ``lakeplane_audit_link``
#: trigger of migration ``20261125_0002`` writes this number out itself; migrations never change.
AUDIT_CHAIN: Final = 7420931
#: One key: the first-admin bootstrap, so two requests cannot both find no admin yet.
BOOTSTRAP: Final = 7420932
#: First of two keys: the worker's locks; the second key is ``hashtext(workspace_id)``
#: while claiming in a workspace, or :data:`ENGINE_SWEEP`.
WORKER_NAMESPACE: Final = 7420932
#: Second key under :data:`WORKER_NAMESPACE`: one worker at a time sweeps the engines.
ENGINE_SWEEP: Final = 0
