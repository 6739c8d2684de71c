"""chDB standing in for a ClickHouse server with one user per data source, and what it cannot show.

chDB runs every query as ``default`` and cannot create users, but enforces a ``users.xml`` given to
the session: so the proof takes a rendered ``users.d`` fragment and makes its user *the* ``default``
user (renamed, no password, plus the ``default`` profile a server's own users.xml would hold).
Grants, row filters and the profile are the rendered ones, byte for byte -- except in a bridge that
must also feed the audit of reads (``bridge_fragments``): chDB runs that feed as the same ``default``,
so it lends the user the feed's grants and lifts ``readonly`` (FEED_GRANTS). Not shown here: password
checks, a server's several users at once, and a dictionary loading as the server's ``default`` user
(in chDB it loads as the querying user, so it needs the grants on its source too).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client

#: What the audit feed (0011_audit_reads.sql) needs. On a server it runs as its definer, the operator
#: who migrated; chDB has one user, so a stand-in session that must feed audit_reads lends these to the
#: data source's user, and lifts its ``readonly`` (the feed inserts). Its own grants stay as rendered.
FEED_GRANTS = (
    "GRANT SELECT ON system.query_log",
    "GRANT SELECT ON system.columns",
    "GRANT SHOW COLUMNS ON {db}.*",  # system.columns lists only the columns a user may see
    "GRANT SELECT ON {db}.audit_query_log",
    "GRANT SELECT ON {db}.audit_sensitive_columns",
    "GRANT SELECT, INSERT ON {db}.audit_reads",
    "GRANT SYSTEM FLUSH LOGS, SYSTEM VIEWS ON *.*",
)


def users_file(users_xml: str, folder: Path, *, feed_database: str | None = None) -> Path:
    """Write the users.xml that makes the fragment's user ``default``; with ``feed_database``, the feed's grants too."""
    root = ET.fromstring(users_xml)
    users = root.find("users")
    assert users is not None and len(users) == 1, "a rendered fragment holds exactly one user"
    (user,) = list(users)
    user.tag = "default"
    for auth in user.findall("password_sha256_hex"):
        user.remove(auth)
    user.insert(0, ET.Element("no_password"))
    profiles = root.find("profiles")
    assert profiles is not None
    ET.SubElement(profiles, "default")
    if feed_database is not None:
        grants = user.find("grants")
        assert grants is not None
        for grant in FEED_GRANTS:
            ET.SubElement(grants, "query").text = grant.format(db=feed_database)
        for profile in profiles:
            for setting in profile.findall("readonly"):
                profile.remove(setting)
            for constraints in profile.findall("constraints"):
                for setting in constraints.findall("readonly"):
                    constraints.remove(setting)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "users.xml"
    path.write_text(ET.tostring(root, encoding="unicode"))
    return path


def session_config(users_xml: str, folder: Path, *, query_log: bool = False) -> Path:
    """Write the chDB config that makes the fragment's user the session's ``default``; return its path."""
    users = users_file(users_xml, folder)
    log = "<query_log><database>system</database><table>query_log</table></query_log>" if query_log else ""
    config = folder / "config.xml"
    config.write_text(f"<clickhouse><users_config>{users}</users_config>{log}</clickhouse>")
    return config


def bridge_fragments(users_xml: str, folder: Path, *, feed_database: str) -> Path:
    """An operator ``config.d`` for `pulse warehouse serve` whose ``default`` is the fragment's user, able to feed."""
    users = users_file(users_xml, folder / "users", feed_database=feed_database)
    fragments = folder / "config.d"
    fragments.mkdir(parents=True, exist_ok=True)
    (fragments / "users.xml").write_text(f"<clickhouse><users_config>{users}</users_config></clickhouse>")
    return fragments


@contextmanager
def session(path: Path, config: Path | None = None, database: str | None = None) -> Iterator[Client]:
    """A client on the chDB ``path`` (unrestricted without ``config``); one path open at a time, closed after."""
    options = {"config-file": str(config)} if config else None
    client = clickhouse_connect.get_client(interface="chdb", path=str(path), database=database, chdb_options=options)
    try:
        yield client
    finally:
        client.close()
