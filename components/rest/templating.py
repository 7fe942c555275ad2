"""JSONata expressions and `{{ expr }}` string templates, compiled once and rendered per message.

Expressions evaluate against the message object `{"body": ..., "headers": ..., "meta": ...}`,
so `body.user_id` or `meta.key` work. Parsing happens when the step is built (a syntax error is
a configuration error naming the field); evaluation happens for every message (~100 µs each).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jsonata

OPEN, CLOSE = "{{", "}}"
_QUOTES = "\"'`"


class TemplateSyntaxError(ValueError):
    """A template or expression that cannot be compiled; the message says where and why."""


class TemplateRenderError(ValueError):
    """A template that compiled but cannot be rendered for one message."""


class Expression:
    """One compiled JSONata expression."""

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        if not self.source:
            raise TemplateSyntaxError("empty expression")
        try:
            self._compiled = jsonata.Jsonata(self.source)
        except jsonata.JException as error:
            raise TemplateSyntaxError(f"invalid JSONata {self.source!r}: {error}") from None

    def evaluate(self, context: Any) -> Any:
        """The expression's value for `context`; None when JSONata yields nothing or null."""
        # jsonata-python reads the clock of $now()/$millis() from a per-thread "current
        # expression", which is whichever expression was compiled last in this thread: without
        # this line a step's $millis() returns a stale time taken from another expression.
        # Point it at this expression before every evaluation.
        jsonata.Jsonata.CURRENT.jsonata = self._compiled
        try:
            # Passing bindings gives each evaluation its own frame instead of rebinding `$` in
            # the expression's shared environment.
            return self._compiled.evaluate(context, {})
        except jsonata.JException as error:
            raise TemplateRenderError(f"{self.source!r} failed: {error}") from None
        except (RecursionError, ValueError, TypeError, KeyError, AttributeError) as error:
            raise TemplateRenderError(
                f"{self.source!r} failed: {type(error).__name__}: {error}"
            ) from None


@dataclass(frozen=True)
class _Placeholder:
    expression: Expression
    # URL placeholders after the host are percent-encoded so that a value with "/", "?" or a
    # space cannot change the request's path or query.
    encode: bool


class Template:
    """A string with `{{ expr }}` placeholders. Rendering fails on a placeholder with no value."""

    def __init__(self, text: str, *, url: bool = False) -> None:
        self.text = text
        self.parts: list[str | _Placeholder] = []
        literal_so_far = ""
        for piece in _split(text):
            if isinstance(piece, str):
                self.parts.append(piece)
                literal_so_far += piece
            else:
                encode = url and _past_authority(literal_so_far)
                self.parts.append(_Placeholder(Expression(piece[0]), encode))

    @property
    def is_static(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)

    def render(self, context: Any) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.expression.evaluate(context)
            if value is None:
                raise TemplateRenderError(
                    f"{{{{ {part.expression.source} }}}} has no value for this message "
                    "(the field is missing or null)"
                )
            text = to_text(value)
            out.append(quote(text, safe="") if part.encode else text)
        return "".join(out)


def to_text(value: Any) -> str:
    """How a JSON value reads inside a string: 3 not 3.0, true not True, objects as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        raise TemplateRenderError(
            f"a placeholder produced a {type(value).__name__}, which has no text form"
        ) from None


def _split(text: str) -> list[str | tuple[str]]:
    """Literal strings and (expression,) tuples, in order.

    The closing `}}` is searched outside string literals and nested braces, so an expression
    like `{{ $string({"a": 1}) }}` works.
    """
    pieces: list[str | tuple[str]] = []
    position = 0
    while True:
        start = text.find(OPEN, position)
        if start < 0:
            if position < len(text):
                pieces.append(text[position:])
            return pieces
        if start > position:
            pieces.append(text[position:start])
        end = _closing(text, start + len(OPEN))
        pieces.append((text[start + len(OPEN) : end],))
        position = end + len(CLOSE)


def _closing(text: str, index: int) -> int:
    depth = 0
    quote_char: str | None = None
    while index < len(text):
        char = text[index]
        if quote_char:
            if char == "\\":
                index += 2
                continue
            if char == quote_char:
                quote_char = None
        elif char in _QUOTES:
            quote_char = char
        elif depth == 0 and text.startswith(CLOSE, index):
            return index
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        index += 1
    raise TemplateSyntaxError(f"a {OPEN} has no matching {CLOSE} in {text!r}")


def _past_authority(literal: str) -> bool:
    """Whether text after `literal` is in the URL's path, query or fragment (not its host)."""
    _, sep, rest = literal.partition("://")
    remainder = rest if sep else literal
    return any(char in remainder for char in "/?#")
