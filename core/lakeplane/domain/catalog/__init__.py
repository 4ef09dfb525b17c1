"""Browsing the tables behind a catalog connection."""
