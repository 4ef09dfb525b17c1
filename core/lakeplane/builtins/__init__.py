"""Implementations that ship with the core and load as plugins like any other."""
