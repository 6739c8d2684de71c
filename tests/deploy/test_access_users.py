"""The chart and compose load the generated data source users (`pulse access generate`), not a hand-kept copy.

One ClickHouse user per Grafana data source lives in provisioning/access/clickhouse/users.d; the chart's
ClickHouseInstallation and the compose server must take those files unchanged, each password only from a Secret
(chart) or one variable (compose) that Grafana's data source reads too. The last test loads the chart-rendered
file into chDB (tests/access/standin.py: the user made ``default``, password checks not shown).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.access.standin import session, session_config
from tests.support.provisioning import PROVISIONING

from .conftest import PRODUCTION
from .tools import COMPOSE_FILE, REPO, Manifest, by_kind, named

USERS_D = PROVISIONING / "access/clickhouse/users.d"
GENERATED = {p.name: p.read_text() for p in sorted(USERS_D.glob("*.xml"))}
PROD_VALUES = yaml.safe_load(PRODUCTION.read_text())
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text())
DEFAULT_ACCESS_SECRET = "pulse-clickhouse-access"


def hash_variable(xml: str) -> str:
    """The variable a generated user's password hash is read from (its only credential)."""
    user = ET.fromstring(xml).find("users/*")
    assert user is not None
    (auth,) = [e for e in user if "password" in e.tag]
    assert auth.tag == "password_sha256_hex" and not (auth.text or "").strip(), "no literal password or hash"
    return auth.attrib["from_env"]


def datasource_password_variables() -> set[str]:
    """Every ``$__env{PULSE_ACCESS_*}`` Grafana's provisioned data sources send as a password."""
    text = "".join(p.read_text() for p in (PROVISIONING / "datasources").glob("*.yaml"))
    return set(re.findall(r"\$__env\{(PULSE_ACCESS_\w+_PASSWORD)\}", text))


def clickhouse_env(docs: list[Manifest]) -> dict[str, dict[str, Any]]:
    chi = by_kind(docs, "ClickHouseInstallation")[0]
    pod = chi["spec"]["templates"]["podTemplates"][0]["spec"]
    (container,) = [c for c in pod["containers"] if c["name"] == "clickhouse"]
    return {e["name"]: e for e in container["env"]}


def test_there_is_a_generated_user_for_every_grafana_data_source() -> None:
    variables = {hash_variable(xml).removesuffix("_SHA256") for xml in GENERATED.values()}
    assert datasource_password_variables() <= variables
    assert len(GENERATED) >= 2


def test_the_installation_holds_every_generated_user_byte_for_byte(rendered: list[Manifest]) -> None:
    configuration = by_kind(rendered, "ClickHouseInstallation")[0]["spec"]["configuration"]
    files = {k.removeprefix("users.d/"): v for k, v in configuration["files"].items() if k.startswith("users.d/")}
    assert files == GENERATED
    users = {key.split("/", 1)[0] for key in configuration["users"]}
    assert users == {"pulse"}, "only the services' (migrations) user is written by hand"
    assert "profiles" not in configuration, "the pulse_readonly profile comes with the generated files"


def test_the_server_reads_each_password_hash_from_the_access_secret(rendered: list[Manifest]) -> None:
    """The Secret Grafana's envFromSecrets reads (chart-made by default, named by production's existingSecret)."""
    env = clickhouse_env(rendered)
    for xml in GENERATED.values():
        variable = hash_variable(xml)
        assert "value" not in env[variable], variable
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": DEFAULT_ACCESS_SECRET, "key": variable}


def test_production_takes_the_named_access_secret_and_renders_none(production_docs: list[Manifest]) -> None:
    secret = PROD_VALUES["secrets"]["access"]["existingSecret"]
    assert secret == DEFAULT_ACCESS_SECRET, "Grafana's envFromSecrets names this Secret"
    assert not [d for d in by_kind(production_docs, "Secret") if d["metadata"]["name"] == secret]
    env = clickhouse_env(production_docs)
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for n, e in env.items() if n.startswith("PULSE_ACCESS_")}
    assert refs == {secret}


def test_the_chart_made_secret_pairs_each_password_with_its_hash_and_nothing_else_holds_them(
    default_docs: list[Manifest],
) -> None:
    """Grafana sends the password, ClickHouse checks its sha256: both from one Secret; no manifest repeats either."""
    secret = named(default_docs, "Secret", DEFAULT_ACCESS_SECRET)
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    variables = {hash_variable(xml).removesuffix("_SHA256") for xml in GENERATED.values()}
    assert set(data) == variables | {f"{v}_SHA256" for v in variables}
    assert datasource_password_variables() <= set(data)
    for variable in variables:
        assert len(data[variable]) >= 32
        assert data[f"{variable}_SHA256"] == hashlib.sha256(data[variable].encode()).hexdigest()
    others = json.dumps([d for d in default_docs if d is not secret])
    leaked = [k for k, v in data.items() if v in others]
    assert not leaked, f"literal password or hash outside the Secret: {leaked}"


def compose_default(expression: str) -> str:
    """The value compose gives ``${VAR:-default}`` when VAR is unset."""
    match = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", expression)
    assert match, f"not a variable with a default: {expression}"
    return match.group(2)


def test_compose_gives_clickhouse_and_grafana_every_password_from_one_variable() -> None:
    clickhouse = COMPOSE["services"]["clickhouse"]["environment"]
    grafana = COMPOSE["services"]["grafana"]["environment"]
    for xml in GENERATED.values():
        variable = hash_variable(xml).removesuffix("_SHA256")
        assert clickhouse[variable] == grafana[variable] == f"${{{variable}:-{compose_default(grafana[variable])}}}"
    assert datasource_password_variables() <= set(grafana)
    assert not [k for k, v in grafana.items() if "PULSE_CLICKHOUSE_PASSWORD" in str(v)], "not the read-write user"


def compose_start(tmp_path: Path) -> tuple[dict[str, str], set[str]]:
    """Run the compose server's start script (paths moved under tmp_path); return its environment and users.d."""
    service = COMPOSE["services"]["clickhouse"]
    mounts = dict(v.split(":")[:2] for v in service["volumes"] if v.startswith("./"))
    target = mounts["./provisioning/access/clickhouse/users.d"]
    script = service["command"][0].replace("$$", "$")
    assert "/etc/clickhouse-server/users.d" in script and target in script
    script = script.replace(target, str(REPO / "provisioning/access/clickhouse/users.d"))
    script = script.replace("/etc/clickhouse-server/users.d", str(tmp_path / "users.d"))
    script = script.replace("exec /entrypoint.sh", "env -0")
    env = {k: compose_default(v) for k, v in service["environment"].items() if k.startswith("PULSE_ACCESS_")}
    done = subprocess.run(
        ["/bin/bash", "-c", script], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, check=True, timeout=60
    )
    out = dict(item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return out, {p.name for p in (tmp_path / "users.d").glob("*.xml")}


def test_the_compose_server_loads_every_generated_user_with_the_hash_of_its_password(tmp_path: Path) -> None:
    env, copied = compose_start(tmp_path)
    assert copied == set(GENERATED)
    for xml in GENERATED.values():
        variable = hash_variable(xml)
        assert env[variable] == hashlib.sha256(env[variable.removesuffix("_SHA256")].encode()).hexdigest()


def test_the_chart_rendered_user_is_enforced_by_the_engine(default_docs: list[Manifest], tmp_path: Path) -> None:
    """The CHI's users.d file as chDB takes it: a granted column is read, an ungranted one refused (497)."""
    files = by_kind(default_docs, "ClickHouseInstallation")[0]["spec"]["configuration"]["files"]
    xml = files["users.d/pulse_growth_analyst.xml"]
    granted = re.search(r"GRANT SELECT\(([^)]*)\) ON pulse\.events<", xml)
    assert granted and {"event", "country"} <= set(granted.group(1).split(", ")) and "user_id" not in granted.group(1)
    with session(tmp_path / "chdb") as admin:
        admin.command("CREATE DATABASE IF NOT EXISTS pulse")
        admin.command(
            "CREATE TABLE pulse.events (event String, country String, user_id String) ENGINE = MergeTree ORDER BY event"
        )
        admin.command("INSERT INTO pulse.events VALUES ('view', 'DE', 'u1')")
    with session(tmp_path / "chdb", session_config(xml, tmp_path / "growth_analyst")) as analyst:
        assert analyst.query("SELECT event, country FROM pulse.events").result_rows == [("view", "DE")]
        with pytest.raises(DatabaseError, match="ACCESS_DENIED"):
            analyst.query("SELECT user_id FROM pulse.events")
