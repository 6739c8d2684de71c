"""Just enough SQL lexing to respect strings, quoted names and comments - no parser.

The bridge needs three facts about a statement it did not write (its first keyword, an
explicit ``FORMAT``, where an INSERT's inline data begins) and migrations need to split a
file into statements. A real parser would be overkill; a regex lexer that never looks
inside literals or comments is enough and keeps ``;`` or ``FORMAT`` inside a string from
fooling us.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z))
    | (?P<string>'(?:[^'\\]|\\.|'')*(?:'|\Z))
    | (?P<quoted>"(?:[^"\\]|\\.|"")*(?:"|\Z)|`(?:[^`\\]|\\.|``)*(?:`|\Z))
    | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
    | (?P<semi>;)
    | (?P<open>\()
    | (?P<close>\))
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

# Statements whose result is a table: the server announces their output format.
_RESULT_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK", "VALUES"})


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    start: int
    end: int

    @property
    def complete(self) -> bool:
        """False for a literal or comment cut short by the end of the text."""
        if self.kind == "string":
            return len(self.text) >= 2 and self.text.endswith("'") and not _escaped_end(self.text)
        if self.kind == "quoted":
            return len(self.text) >= 2 and self.text[-1] == self.text[0] and not _escaped_end(self.text)
        if self.kind == "comment" and self.text.startswith("/*"):
            return self.text.endswith("*/") and len(self.text) >= 4
        return True


def _escaped_end(text: str) -> bool:
    """True when the closing quote is really an escaped quote (odd run of backslashes)."""
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def tokens(sql: str, start: int = 0) -> Iterator[Token]:
    """Lex ``sql`` into tokens; whitespace is skipped, comments are kept."""
    for match in _TOKEN.finditer(sql, start):
        kind = match.lastgroup or "other"
        if kind != "ws":
            yield Token(kind, match.group(), match.start(), match.end())


def _code_tokens(sql: str) -> Iterator[Token]:
    return (token for token in tokens(sql) if token.kind != "comment")


def leading_keyword(sql: str) -> str:
    """The statement's first keyword, upper-cased ('' if none); ``(SELECT ...)`` counts as SELECT."""
    for token in _code_tokens(sql):
        if token.kind == "open":
            continue
        return token.text.upper() if token.kind == "word" else ""
    return ""


def produces_result(sql: str) -> bool:
    """Whether a statement returns rows (and so an output format), judged by its first keyword."""
    keyword = leading_keyword(sql)
    return keyword in _RESULT_KEYWORDS or (keyword != "INSERT" and explicit_format(sql) is not None)


def explicit_format(sql: str) -> str | None:
    """The output format named by a top-level ``FORMAT x`` clause, if the statement has one.

    The clause comes last (SETTINGS may follow), which tells it apart from a column named
    ``format``.
    """
    if "FORMAT" not in sql.upper():
        return None
    code = list(_code_tokens(sql))
    depth = 0
    for index, token in enumerate(code):
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            depth -= 1
        elif depth == 0 and token.kind == "word" and token.text.upper() == "FORMAT" and index + 1 < len(code):
            name = code[index + 1]
            after = code[index + 2] if index + 2 < len(code) else None
            ends = after is None or after.kind == "semi" or after.text.upper() == "SETTINGS"
            if name.kind == "word" and ends:
                return name.text
    return None


def split_statements(script: str) -> list[str]:
    """Split a SQL script on top-level ``;`` into statements, dropping empty or comment-only ones.

    Semicolons inside string literals, quoted identifiers and comments never split. A
    statement runs from its first to its last code token: comments around it are dropped,
    comments inside it are kept.
    """
    statements: list[str] = []
    first: Token | None = None
    last: Token | None = None
    for token in tokens(script):
        if token.kind == "semi":
            if first is not None and last is not None:
                statements.append(script[first.start : last.end])
            first = last = None
        elif token.kind != "comment":
            first = first or token
            last = token
    if first is not None and last is not None:
        statements.append(script[first.start : last.end])
    return statements


@dataclass(frozen=True, slots=True)
class InsertShape:
    """An INSERT whose data follows the statement in the same stream.

    ``head`` is the statement up to (not including) its own SETTINGS clause, ``settings``
    that clause's body, ``fmt`` the input format and ``data_offset`` where the data begins.
    """

    head: str
    settings: str | None
    fmt: str
    data_offset: int


class NeedMore(Exception):
    """The buffer ends before the statement's shape can be decided."""


def insert_shape(buffer: bytes, *, at_eof: bool) -> InsertShape | None:
    """Find where an ``INSERT ... FORMAT x`` / ``INSERT ... VALUES`` statement ends and its data begins.

    Returns None for anything else (including ``INSERT ... SELECT``), which runs as plain SQL.
    Raises NeedMore when ``buffer`` is a prefix that does not settle it yet. Only the
    statement is lexed, never the (possibly binary) data after it.
    """
    text = buffer.decode("latin-1")  # one char per byte: offsets stay byte offsets
    depth = 0
    settings_at: int | None = None
    awaiting_format = False
    format_at = 0
    first = True
    for token in tokens(text):
        if not token.complete:
            break
        if token.kind == "comment":
            continue
        if first:
            if not (token.kind == "word" and token.text.upper() == "INSERT"):
                return None
            first = False
            continue
        word = token.text.upper() if token.kind == "word" else ""
        if awaiting_format:
            if token.kind != "word":
                return None
            if token.end == len(text) and not at_eof:
                raise NeedMore
            return _shape(buffer, settings_at, format_at, token.text, _data_start(buffer, token.end))
        if token.kind == "open":
            depth += 1
        elif token.kind == "close":
            depth -= 1
        elif depth == 0 and word == "SETTINGS":
            settings_at = token.start
        elif depth == 0 and word == "FORMAT":
            awaiting_format = True
            format_at = token.start
            continue
        elif depth == 0 and word == "VALUES":
            return _shape(buffer, settings_at, token.start, "Values", token.end)
        elif depth == 0 and word in ("SELECT", "WITH"):
            return None
    if at_eof:
        return None
    raise NeedMore


def _data_start(buffer: bytes, offset: int) -> int:
    """Data begins after the format name, blanks, and at most one line break."""
    while offset < len(buffer) and buffer[offset] in b" \t":
        offset += 1
    if buffer.startswith(b"\r\n", offset):
        return offset + 2
    if buffer.startswith(b"\n", offset):
        return offset + 1
    return offset


def _shape(buffer: bytes, settings_at: int | None, head_end: int, fmt: str, data_offset: int) -> InsertShape:
    """Cut the statement (bytes, so offsets stay exact for UTF-8 names) into head and SETTINGS body."""
    if settings_at is None:
        return InsertShape(buffer[:head_end].decode("utf-8").strip(), None, fmt, data_offset)
    head = buffer[:settings_at].decode("utf-8").strip()
    settings = buffer[settings_at + len("SETTINGS") : head_end].decode("utf-8").strip()
    return InsertShape(head, settings or None, fmt, data_offset)
