"""The statement splitter and the INSERT/format scanners: examples plus properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.warehouse.sqltext import NeedMore, explicit_format, insert_shape, leading_keyword, split_statements

# Pieces of SQL that may hide a ';' or '--' that must not split.
_words = st.sampled_from(["SELECT", "1", "a", "FROM", "t", "WHERE", "x", "=", "(", ")", ",", "+", "FORMAT", "VALUES"])
_string_body = st.text(alphabet=st.sampled_from(list("ab;- \n\t'\\/*\"`")), max_size=12)


def _literal(body: str) -> str:
    return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quoted(body: str) -> str:
    return "`" + body.replace("\\", "\\\\").replace("`", "\\`") + "`"


_piece = st.one_of(
    _words,
    _string_body.map(_literal),
    _string_body.map(_quoted),
    _string_body.filter(lambda s: "*/" not in s).map(lambda s: f"/*{s}*/"),
)
_statement = st.lists(_piece, min_size=1, max_size=12).map(" ".join).filter(lambda s: s.strip() != "")
_comment_line = _string_body.filter(lambda s: "\n" not in s).map(lambda s: f"-- {s}\n")


def _has_code(statement: str) -> bool:
    return split_statements(statement) != []


@given(st.lists(_statement.filter(_has_code), max_size=6), st.lists(_comment_line, max_size=3))
def test_join_then_split_round_trips(statements: list[str], comments: list[str]) -> None:
    script = "".join(comments) + "".join(f"{s};\n" for s in statements) + "".join(comments)
    assert split_statements(script) == [split_statements(s)[0] for s in statements]


@given(st.lists(_statement, max_size=6))
def test_split_is_idempotent(statements: list[str]) -> None:
    once = split_statements(";\n".join(statements))
    assert split_statements(";\n".join(once)) == once


@given(_string_body)
def test_semicolons_inside_literals_never_split(body: str) -> None:
    assert split_statements(f"SELECT {_literal(body)};\nSELECT 2;") == [f"SELECT {_literal(body)}", "SELECT 2"]


def test_examples() -> None:
    script = """
    -- a header comment; with a semicolon
    CREATE TABLE a (s String DEFAULT ';', `we;ird` UInt8) ENGINE = Memory;

    /* block ; comment */
    INSERT INTO a VALUES ('it''s; fine', 1);  -- trailing; comment
    ;
    """
    assert split_statements(script) == [
        "CREATE TABLE a (s String DEFAULT ';', `we;ird` UInt8) ENGINE = Memory",
        "INSERT INTO a VALUES ('it''s; fine', 1)",
    ]
    assert split_statements("-- only a comment\n") == []
    assert split_statements("SELECT 1") == ["SELECT 1"]


def test_leading_keyword_and_format() -> None:
    assert leading_keyword("  -- c\n /* d */ (select 1)") == "SELECT"
    assert leading_keyword("") == ""
    assert explicit_format("SELECT 'FORMAT CSV' FORMAT JSONEachRow") == "JSONEachRow"
    assert explicit_format("SELECT 1 FORMAT JSON SETTINGS max_threads = 1") == "JSON"
    assert explicit_format("SELECT format FROM t") is None
    assert explicit_format("SELECT (SELECT 1 FORMAT TSV)") is None


def test_insert_shape() -> None:
    data = b"\x00\x01\x02FORMAT binary;"
    shape = insert_shape(b"INSERT INTO db.t (a, `b c`) SETTINGS x = 1 FORMAT Native\n" + data, at_eof=True)
    assert shape is not None
    assert (shape.head, shape.settings, shape.fmt) == ("INSERT INTO db.t (a, `b c`)", "x = 1", "Native")
    assert (b"INSERT INTO db.t (a, `b c`) SETTINGS x = 1 FORMAT Native\n" + data)[shape.data_offset :] == data
    values = insert_shape(b"insert into t values (1, 'FORMAT')", at_eof=True)
    assert values is not None and values.fmt == "Values" and values.head == "insert into t"
    assert insert_shape(b"INSERT INTO t SELECT 1", at_eof=True) is None
    assert insert_shape(b"SELECT 1", at_eof=False) is None
    with pytest.raises(NeedMore):
        insert_shape(b"INSERT INTO t FORMAT Nat", at_eof=False)
    with pytest.raises(NeedMore):
        insert_shape(b"INSERT INTO t (a) SETTINGS s = 'unfinished", at_eof=False)
