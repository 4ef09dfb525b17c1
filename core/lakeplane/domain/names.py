"""Shared constraints on names that appear in URLs, SQL identifiers and logs."""

from __future__ import annotations

from typing import Annotated

import msgspec

Slug = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$", max_length=63)]
Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100)]
DisplayText = Annotated[str, msgspec.Meta(max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$")]
LongText = Annotated[str, msgspec.Meta(max_length=4000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
Tag = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:=/-]{0,63}$")]
#: A user name: letters, digits and ``_ . @ -``; nothing that needs quoting in a URL, a log or HTML.
Username = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}$", max_length=150)]
