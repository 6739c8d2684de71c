"""chDB standing in for a ClickHouse server with one user per data source, and what it cannot show.

chDB runs every query as ``default`` and cannot create users, but enforces a ``users.xml`` given to
the session: so the proof takes a rendered ``users.d`` fragment and makes its user *the* ``default``
user (renamed, no password, plus the ``default`` profile a server's own users.xml would hold).
Grants, row filters and the profile are the rendered ones, byte for byte. Not shown here: password
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


def session_config(users_xml: str, folder: Path, *, query_log: bool = False) -> Path:
    """Write the chDB config that makes the fragment's user the session's ``default``; return its path."""
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
    folder.mkdir(parents=True, exist_ok=True)
    users_file = folder / "users.xml"
    users_file.write_text(ET.tostring(root, encoding="unicode"))
    log = "<query_log><database>system</database><table>query_log</table></query_log>" if query_log else ""
    config = folder / "config.xml"
    config.write_text(f"<clickhouse><users_config>{users_file}</users_config>{log}</clickhouse>")
    return config


@contextmanager
def session(path: Path, config: Path | None = None, database: str | None = None) -> Iterator[Client]:
    """A client on the chDB ``path`` (unrestricted without ``config``); one path open at a time, closed after."""
    options = {"config-file": str(config)} if config else None
    client = clickhouse_connect.get_client(interface="chdb", path=str(path), database=database, chdb_options=options)
    try:
        yield client
    finally:
        client.close()
