"""Reading the audit log: filter, page, export as JSON lines, verify the chain."""
