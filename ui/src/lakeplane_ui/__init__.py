"""The Lakeplane admin UI: server-rendered pages, loaded as a plugin.

The pages call the same domain services as the JSON API; they add forms, CSRF
tokens, security headers and a little plain JavaScript for live parts. Every flow
works without JavaScript.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
