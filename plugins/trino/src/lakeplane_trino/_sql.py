"""SQL text the plugin builds itself: quoted identifiers, bound parameters, one statement.

Convention for parameters: a job's SQL names them ``:name`` (letters, digits and
underscores, not starting with a digit) and ``Submission.parameters`` holds the
values by name. Trino's HTTP protocol has no out-of-band binding, so a statement
with placeholders is sent as ``EXECUTE IMMEDIATE '<sql with ?>' USING <values>``:
Trino parses the statement on its own and binds each value as one typed
expression, exactly what the ``trino`` client's qmark style does. A value never
becomes SQL syntax: it is rendered as a single typed literal (``'it''s'``,
``DATE '2024-01-31'``, ``X'00ff'``) by :func:`sql_literal`, and only values of
the types listed there are accepted.

The one exception is an :class:`~lakeplane.interfaces.Identifier` (a job parameter
of type ``identifier``): it names a table, so it is written into the statement
as a quoted name, ``:table`` becoming ``"iceberg"."sales"."orders"``, each of its
one to three parts checked by :func:`quote_identifier`. A plain ``str`` is
always a bound value, so only the typed parameter can become a name.

Placeholders are found by a small tokenizer that skips string literals, quoted
identifiers and comments, so ``':x'`` or ``-- :x`` are left alone. A bare ``?``
in a job's SQL is refused (it would collide with the positional markers used
underneath), and so is a second statement.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from lakeplane.errors import ValidationFailed
from lakeplane.interfaces import Identifier

#: Identifiers the plugin will quote: plain ASCII names, as Trino itself folds them.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
#: A parameter may name ``table``, ``schema.table`` or ``catalog.schema.table``.
MAX_IDENTIFIER_PARTS = 3
#: Session property names: ``name`` or ``catalog.name``.
SESSION_PROPERTY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?")

_BIGINT_MIN = -(2**63)
_BIGINT_MAX = 2**63 - 1
_MAX_DECIMAL_DIGITS = 38
_MAX_NESTING = 16

_TOKEN = re.compile(
    r"""
      (?P<string>'(?:[^']|'')*')
    | (?P<quoted>"(?:[^"]|"")*")
    | (?P<comment>--[^\r\n]*|/\*.*?\*/)
    | (?P<placeholder>:[A-Za-z_][A-Za-z0-9_]*)
    | (?P<qmark>\?)
    | (?P<semicolon>;)
    """,
    re.VERBOSE | re.DOTALL,
)


def quote_identifier(name: str) -> str:
    """``name`` in double quotes, if it is a plain identifier; else :class:`ValidationFailed`.

    Only ``[A-Za-z_][A-Za-z0-9_]*`` up to 128 characters is accepted, so the quoted
    form needs no escaping and means the same name to every Trino connector.
    """
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.fullmatch(name):
        raise ValidationFailed(
            f"{name!r} is not a valid identifier: use letters, digits and underscores, "
            "not starting with a digit, at most 128 characters",
            [{"field": "identifier", "message": "invalid"}],
        )
    return f'"{name}"'


def quote_qualified(*parts: str) -> str:
    """A dotted name such as ``"catalog"."schema"."table"``, each part checked."""
    if not parts:
        raise ValidationFailed("an empty name", [{"field": "identifier", "message": "empty"}])
    return ".".join(quote_identifier(part) for part in parts)


def _tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs covering ``sql``; kind ``code`` for everything between tokens."""
    position = 0
    for match in _TOKEN.finditer(sql):
        if match.start() > position:
            yield "code", sql[position : match.start()]
        kind = match.lastgroup
        assert kind is not None
        yield kind, match.group()
        position = match.end()
    if position < len(sql):
        yield "code", sql[position:]


class ParsedStatement:
    """One statement split into tokens, with the placeholders it names in order."""

    def __init__(self, sql: str) -> None:
        tokens = list(_tokens(sql))
        end = next((i for i, (kind, _) in enumerate(tokens) if kind == "semicolon"), len(tokens))
        if any(_meaningful(token) for token in tokens[end + 1 :]):
            raise ValueError("sql must hold a single statement")
        tokens = tokens[:end]
        if any(kind == "qmark" for kind, _ in tokens):
            raise ValueError("use named :placeholders; a bare ? is not allowed in a job's SQL")
        if not any(_meaningful(token) for token in tokens):
            raise ValueError("sql is empty")
        self.tokens = tokens
        self.placeholders = [text[1:] for kind, text in tokens if kind == "placeholder"]

    @property
    def text(self) -> str:
        """The statement without a trailing semicolon (Trino refuses one)."""
        return "".join(text for _, text in self.tokens).rstrip()


def _meaningful(token: tuple[str, str]) -> bool:
    kind, text = token
    return kind != "comment" and bool(text.strip())


def placeholders(sql: str) -> list[str]:
    """The distinct ``:name`` placeholders of ``sql`` in order of first use."""
    return list(dict.fromkeys(ParsedStatement(sql).placeholders))


def bind_statement(sql: str, parameters: Mapping[str, Any]) -> str:
    """The text to send for ``sql`` with ``parameters`` bound to its ``:name`` placeholders.

    Without placeholders the statement is sent as written. An
    :class:`~lakeplane.interfaces.Identifier` value is written in as a quoted name;
    every other value is bound, and with no value left to bind the statement is sent
    without ``EXECUTE IMMEDIATE``. Parameters the statement does not name are
    ignored; a placeholder without a value is a :class:`ValidationFailed` listing
    every missing name, and so is an identifier that is not one to three plain names.
    """
    try:
        statement = ParsedStatement(sql)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [{"field": "sql", "message": str(exc)}]) from None
    if not statement.placeholders:
        return statement.text
    missing = [name for name in dict.fromkeys(statement.placeholders) if name not in parameters]
    if missing:
        raise ValidationFailed(
            "no value for placeholder " + ", ".join(f":{name}" for name in missing),
            [{"field": f"parameters.{name}", "message": "missing"} for name in missing],
        )
    values: list[str] = []
    pieces: list[str] = []
    for kind, text in statement.tokens:
        if kind != "placeholder":
            pieces.append(text)
            continue
        value = parameters[text[1:]]
        if isinstance(value, Identifier):
            pieces.append(_identifier_text(text[1:], value))
        else:
            values.append(_parameter_literal(text[1:], value))
            pieces.append("?")
    inner = _join(pieces).rstrip()
    if not values:
        return inner
    return "EXECUTE IMMEDIATE " + _string_literal(inner) + " USING " + ", ".join(values)


def _identifier_text(name: str, value: Identifier) -> str:
    """``value`` as a quoted, qualified name, or :class:`ValidationFailed` for parameter ``name``."""
    parts = value.parts
    if not value:
        problem = "an empty identifier"
    elif len(parts) > MAX_IDENTIFIER_PARTS:
        problem = f"{value!r} has {len(parts)} parts; at most {MAX_IDENTIFIER_PARTS} (catalog.schema.table)"
    else:
        try:
            return quote_qualified(*parts)
        except ValidationFailed as exc:
            problem = exc.detail
    raise ValidationFailed(
        f"parameter {name!r}: {problem}", [{"field": f"parameters.{name}", "message": problem}]
    )


def _join(pieces: list[str]) -> str:
    """The pieces as one text, with a space wherever two double quotes would meet.

    Written next to each other, ``"a"`` and ``"b"`` would read as the one name ``a"b``;
    in the job's own text they were separate tokens, so a space keeps them apart.
    """
    out: list[str] = []
    for piece in pieces:
        if out and out[-1].endswith('"') and piece.startswith('"'):
            out.append(" ")
        out.append(piece)
    return "".join(out)


def _parameter_literal(name: str, value: Any) -> str:
    try:
        return sql_literal(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"parameter {name!r}: {exc}", [{"field": f"parameters.{name}", "message": str(exc)}]
        ) from None


def sql_literal(value: Any, _depth: int = 0) -> str:
    """One Trino literal for ``value``; :class:`ValueError` for a type or value it cannot be.

    ``None``, ``bool``, ``int`` (BIGINT range; larger as DECIMAL up to 38 digits),
    ``float``, ``Decimal``, ``str``, ``bytes``, ``datetime`` (naive, or aware with a
    fixed UTC offset), ``date``, naive ``time``, ``UUID``, and ``list``/``dict`` of
    these (as ARRAY and MAP).
    """
    if _depth > _MAX_NESTING:
        raise ValueError(f"nested deeper than {_MAX_NESTING} levels")
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _integer_literal(value)
    if isinstance(value, float):
        return _double_literal(value)
    if isinstance(value, decimal.Decimal):
        return _decimal_literal(value)
    if isinstance(value, str):
        return _string_literal(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"X'{bytes(value).hex()}'"
    if isinstance(value, datetime.datetime):
        return _timestamp_literal(value)
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, datetime.time):
        if value.tzinfo is not None:
            raise ValueError("times with a time zone cannot be bound; pass a timestamp")
        return f"TIME '{value.isoformat(timespec='microseconds')}'"
    if isinstance(value, uuid.UUID):
        return f"UUID '{value}'"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(sql_literal(item, _depth + 1) for item in value) + "]"
    if isinstance(value, dict):
        keys = ", ".join(sql_literal(key, _depth + 1) for key in value)
        values = ", ".join(sql_literal(item, _depth + 1) for item in value.values())
        return f"MAP(ARRAY[{keys}], ARRAY[{values}])"
    raise ValueError(f"values of type {type(value).__name__} cannot be bound")


def _string_literal(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text is not valid Unicode (lone surrogate)") from None
    return "'" + text.replace("'", "''") + "'"


def _integer_literal(number: int) -> str:
    if _BIGINT_MIN < number <= _BIGINT_MAX:
        return str(number)
    if number == _BIGINT_MIN:
        # ``-9223372036854775808`` would parse as minus an out-of-range literal.
        return f"BIGINT '{number}'"
    if len(str(abs(number))) <= _MAX_DECIMAL_DIGITS:
        return f"DECIMAL '{number}'"
    raise ValueError(f"integers beyond {_MAX_DECIMAL_DIGITS} digits cannot be bound")


def _double_literal(number: float) -> str:
    if math.isnan(number):
        return "nan()"
    if math.isinf(number):
        return "infinity()" if number > 0 else "-infinity()"
    return f"DOUBLE '{number!r}'"


def _decimal_literal(number: decimal.Decimal) -> str:
    if not number.is_finite():
        raise ValueError("only finite decimals can be bound")
    text = format(number, "f")
    whole, _, fraction = text.lstrip("-").partition(".")
    if len(whole.lstrip("0")) + len(fraction) > _MAX_DECIMAL_DIGITS:
        raise ValueError(f"decimals beyond {_MAX_DECIMAL_DIGITS} digits cannot be bound")
    return f"DECIMAL '{text}'"


def _timestamp_literal(moment: datetime.datetime) -> str:
    text = moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    offset = moment.utcoffset()
    if offset is None:
        return f"TIMESTAMP '{text}'"
    if offset.microseconds or offset.seconds % 60:
        raise ValueError("time zone offsets must be whole minutes")
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"TIMESTAMP '{text} {sign}{hours:02d}:{minutes:02d}'"
