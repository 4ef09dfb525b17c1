"""Labelled crash points between a database commit and an engine call.

With ``LAKEPLANE_FAULT=<point>`` in its environment the worker dies with
``os._exit`` the first time it reaches ``<point>``, leaving the database and the
engine exactly as a SIGKILL would. The fault-injection test runs one worker per
point and checks that another worker finishes the job correctly.
"""

from __future__ import annotations

import os
import sys

POINTS = (
    #: The claim committed (run is ``running``, lease taken); the engine has not been called.
    "after_claim",
    #: The engine accepted the work; its handle is not yet stored.
    "after_submit",
    #: The handle is stored; the engine has not been polled.
    "after_handle",
    #: The engine reported a terminal state; the result is not yet committed.
    "before_finish",
    #: The engine was asked to cancel (stop or timeout); the run is not yet marked.
    "after_cancel",
    #: An expired run was adopted (new lease committed); the engine has not been asked.
    "after_adopt",
)
EXIT_CODE = 87


def crash_point(point: str) -> None:
    """Die here if the environment asks for it; otherwise do nothing."""
    if os.environ.get("LAKEPLANE_FAULT") == point:
        sys.stderr.write(f"lakeplane worker: fault injected at {point}\n")
        sys.stderr.flush()
        os._exit(EXIT_CODE)
