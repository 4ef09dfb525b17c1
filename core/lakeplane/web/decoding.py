"""Request bodies are read here, and only here; whatever cannot be read answers 400.

Every JSON body and every form goes through :class:`LakeplaneRequest`. A body is
refused (:class:`~lakeplane.errors.MalformedBody`) before any handler sees it when it

- is not UTF-8 or not JSON, or uses ``NaN`` / ``Infinity`` or a number that overflows;
- nests deeper than :data:`MAX_DEPTH` levels;
- repeats a key in one object (parsers disagree on which copy wins);
- holds a NUL character or a lone surrogate anywhere, keys included (Postgres text
  cannot store the first, UTF-8 cannot encode the second);
- holds an integer outside the signed 64-bit range (what the database stores).

A JSON body sent with another content type is refused with 415, so a plain HTML form
or a ``text/plain`` request cannot reach a JSON route. Schema validation of what was
read comes after, and answers 422 (:mod:`lakeplane.web.problems`).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.types import Empty

from lakeplane.errors import MalformedBody, UnsupportedMediaType

MAX_DEPTH = 64
INT64 = (-(2**63), 2**63 - 1)
JSON_TYPES = ("application/json", "application/problem+json")


def decode_json(body: bytes) -> Any:
    """``body`` as a JSON value, or :class:`MalformedBody` saying why not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise MalformedBody(
            f"the body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise MalformedBody(f"the body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # int() refusing too many digits
        raise MalformedBody(f"the body holds an unreadable number: {exc}") from None
    check_value(value)
    return value


def check_value(value: Any) -> None:
    """Raise :class:`MalformedBody` if a decoded value holds what nothing may store."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedBody(f"the body nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def check_text(text: str, where: str = "the body") -> None:
    """Raise :class:`MalformedBody` for a NUL character or a lone surrogate in ``text``."""
    if "\x00" in text:
        raise MalformedBody(f"{where} holds a NUL character")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedBody(f"{where} holds a lone surrogate (\\ud800-\\udfff)") from None


def check_urlencoded(body: bytes) -> None:
    """Raise :class:`MalformedBody` if a form's names or values are not UTF-8 once unquoted.

    The form parser would put U+FFFD in their place and carry on.
    """
    for part in body.split(b"&"):
        for piece in part.split(b"=", 1):
            try:
                urllib.parse.unquote_to_bytes(piece.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedBody("the form is not UTF-8") from None


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise MalformedBody(f"the body repeats the key {_short(key)} in one object")
        found[key] = value
    return found


def _integer(text: str) -> int:
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise MalformedBody(f"the number {_short(text)} does not fit in 64 bits")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedBody(f"the number {_short(text)} is out of range")
    return value


def _constant(name: str) -> Any:
    raise MalformedBody(f"{name} is not a JSON number")


def _short(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _media_type(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class LakeplaneRequest(Request[Any, Any, Any]):
    """The app's request class: JSON and forms decoded as described in this module."""

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                body = await self.body()
                if not body:
                    value = None
                else:
                    media_type = _media_type(self)
                    if media_type not in JSON_TYPES and not media_type.endswith("+json"):
                        raise UnsupportedMediaType(
                            f"this route takes application/json, not {media_type or 'a body without a type'}"
                        )
                    value = decode_json(body)
                self._json = self._connection_state.json = value
        return self._json

    async def form(self) -> FormMultiDict:
        if _media_type(self) == "application/x-www-form-urlencoded":
            check_urlencoded(await self.body())
        form = await super().form()
        for key, value in form.multi_items():
            check_text(key, "the form")
            if isinstance(value, str):
                check_text(value, "the form")
        return form
