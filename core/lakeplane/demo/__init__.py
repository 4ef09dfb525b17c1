"""`lakeplane demo`: the end-to-end path on the embedded stack."""
