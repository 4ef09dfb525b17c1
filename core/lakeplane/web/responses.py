"""Response helpers the controllers share."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from litestar import Response

from lakeplane.domain.etags import etag

S = TypeVar("S", bound=msgspec.Struct)


def tagged(representation: S) -> Response[S]:
    """A resource's public representation with its strong ``ETag``, as a GET or PATCH answers."""
    return Response(representation, headers={"ETag": etag(representation)})
