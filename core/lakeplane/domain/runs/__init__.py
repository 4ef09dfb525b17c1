"""Runs: one execution of one job version, from submission to a terminal state."""
