"""The embedded engine's query log, and the client's User-Agent in it as a ClickHouse server records it.

A ClickHouse server writes every query to ``system.query_log`` with the HTTP request's User-Agent in
``http_user_agent``; Grafana's ClickHouse plugin puts ``grafana_user:<login>`` (and the dashboard,
panel or rule) there, which is what makes a read attributable to a person (docs/access.md, Audit).

Stand-in difference, kept to this one module: chDB is not an HTTP server, so its ``http_user_agent``
is always empty. The bridge passes the request's User-Agent as the per-query ``log_comment`` setting
instead, which chDB does record; the audit feed (0011_audit_reads.sql) reads ``http_user_agent``
first and falls back to ``log_comment``. A client that sets ``log_comment`` itself keeps its own (a
server would record both; the bridge then loses the User-Agent). chDB also keeps ``system`` in memory:
the log starts empty at every open, so the bridge captures it into ``audit_reads`` before it closes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pulse.chdb_server.engine import Engine, EngineError, Statement
from pulse.settings import Settings

log = logging.getLogger(__name__)

#: The per-query setting that carries the User-Agent on the bridge (``http_user_agent`` on a server).
AGENT_SETTING = "log_comment"

_FRAGMENT = """<clickhouse>
  <!-- pulse: the query log a ClickHouse server keeps; the audit of reads (audit_reads) is fed from it. -->
  <query_log>
    <database>system</database>
    <table>query_log</table>
    <flush_interval_milliseconds>7500</flush_interval_milliseconds>
  </query_log>
</clickhouse>
"""


def fragment(_settings: Settings) -> str:
    """``config.d/query_log.xml``: the same ``<query_log>`` section a server's config.xml ships."""
    return _FRAGMENT


def with_user_agent(settings: Mapping[str, str], user_agent: str | None) -> dict[str, str]:
    """The request's settings plus its User-Agent as ``log_comment``, unless the client set one."""
    merged = dict(settings)
    if user_agent and AGENT_SETTING not in merged:
        merged[AGENT_SETTING] = user_agent
    return merged


def capture(engine: Engine, database: str) -> bool:
    """Copy what the engine logged into ``audit_reads`` before it closes: chDB's log dies with the process.

    Best effort: a warehouse not migrated yet has no feed, and a restricted ``default`` user may not
    run it (on a server the feed runs as its definer, the operator).
    """
    from pulse.access.reads import capture_statements

    for sql in capture_statements(database):
        try:
            engine.execute(Statement(sql=sql))
        except EngineError as error:
            log.warning("reads not captured at close", extra={"code": error.code, "error": error.message[:300]})
            return False
    return True
