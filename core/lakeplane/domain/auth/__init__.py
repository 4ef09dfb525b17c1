"""Signing in and out: password and redirect logins, sessions, throttling, bootstrap."""
