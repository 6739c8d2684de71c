"""Structure of the generated files, and that the committed ones are what `pulse grafana generate` writes."""

from __future__ import annotations

import configparser
import re

import pytest
import yaml

from pulse.grafana import access, alerting, alerts, datasources, discover
from pulse.grafana.dashboards import DASHBOARDS
from pulse.grafana.emulation.macros import MacroError, QueryContext, TimeRange, calculate_interval, expand_macros
from pulse.grafana.emulation.render import panels
from pulse.grafana.emulation.variables import ALL, VariableState, interpolate
from pulse.grafana.envexpand import expand
from pulse.grafana.generate import check, dashboard_json, load_organizations
from tests.support.provisioning import PROVISIONING, REPO, provisioned, provisioned_rule

CONFIG = discover.module("config")
METRICS = set(re.findall(r'"(pulse_[a-z_]+)"', "".join(p.read_text() for p in (REPO / "ingest/pulse").rglob("*.py"))))


def test_committed_output_is_fresh() -> None:
    assert check(REPO) == [], "run `pulse grafana generate` and commit the result"


def test_the_chart_packages_the_provisioning_files_themselves() -> None:
    files = REPO / "helm/pulse/files"
    assert files.is_symlink() and files.resolve() == PROVISIONING.resolve(), (
        "one copy: helm/pulse/files -> provisioning"
    )


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_rule_links_to_a_runbook_heading() -> None:
    headings = re.findall(r"^#+ (.+)$", (REPO / "docs/runbooks.md").read_text(), flags=re.MULTILINE)
    anchors = {f"{CONFIG.RUNBOOKS}#{github_anchor(h)}" for h in headings}
    for rule in alerts.all_rules():
        url = rule.to_file(CONFIG.RUNBOOKS)["annotations"]["runbook_url"]
        assert url == alerting.runbook_url(CONFIG.RUNBOOKS, rule.runbook_heading)
        assert url in anchors, f"{rule.title}: no heading '{rule.runbook_heading}' in docs/runbooks.md"


def test_dashboards_are_structurally_valid() -> None:
    for module in DASHBOARDS:
        board = dashboard_json(module)
        assert board["schemaVersion"] >= 39 and board["uid"] == module.UID
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        cells: set[tuple[int, int]] = set()
        for panel in panels(board):
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & mine, f"{panel['title']} overlaps another panel"
            cells |= mine
            if panel["type"] == "row":
                continue
            assert panel["title"] and panel["description"], "every panel has a title and a description"
            assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']}: unit"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in datasources.ALL
                if target["datasource"]["uid"] == "pulse-clickhouse":
                    assert isinstance(target["format"], int) and target["editorType"] == "sql"
                if "expr" in target:
                    for name in re.findall(r"\b(pulse_[a-z_]+?)(?:_bucket)?\b", target["expr"]):
                        assert name in METRICS, f"{panel['title']}: no metric {name} in the code"
        text = str(board["panels"])
        for var in board["templating"]["list"]:
            assert f"${{{var['name']}:" in text, f"variable {var['name']} is never used"


def test_alerting_files_are_in_grafanas_format() -> None:
    rules = yaml.safe_load((PROVISIONING / "alerting/rules.yaml").read_text())
    assert rules["apiVersion"] == 1
    for group in rules["groups"]:
        assert {"orgId", "name", "folder", "interval", "rules"} <= set(group)
        for rule in group["rules"]:
            refs = [d["refId"] for d in rule["data"]]
            assert rule["condition"] in refs and len(refs) == len(set(refs))
            assert rule["noDataState"] in ("NoData", "Alerting", "OK", "KeepLast")
            assert rule["execErrState"] in ("Error", "Alerting", "OK", "KeepLast")
            assert rule["labels"]["severity"] in ("critical", "warning", "info") and rule["labels"]["team"]
            for step in rule["data"]:
                assert step["datasourceUid"] in (*datasources.ALL, "__expr__")
    notes = yaml.safe_load((PROVISIONING / "alerting/notifications.yaml").read_text())
    receivers = {c["name"] for c in notes["contactPoints"]}
    mutes = {m["name"] for m in notes["muteTimes"]}
    for route in notes["policies"][0]["routes"]:
        assert route["receiver"] in receivers and set(route.get("mute_time_intervals", [])) <= mutes
    text = (PROVISIONING / "alerting/notifications.yaml").read_text()
    assert "hooks.slack.com" not in text and "$PULSE_ALERT_" in text, "endpoints come from the environment"


def test_datasources_keep_secrets_out_of_files() -> None:
    data = datasources.provisioning(load_organizations(REPO))
    for source in data["datasources"]:
        for value in source.get("secureJsonData", {}).values():
            assert value.startswith("$__env{")
    per_org = {(s["orgId"], s["uid"]) for s in data["datasources"]}
    assert len(per_org) == len(data["datasources"]), "a uid is unique within its organization"
    assert {uid for _, uid in per_org} == {
        datasources.CLICKHOUSE["uid"],
        datasources.REDIS["uid"],
        datasources.PROMETHEUS["uid"],
    }


def test_sso_maps_groups_to_organizations_strictly() -> None:
    """grafana.ini: org_mapping from the access definition, strict, nobody auto-assigned to organization 1."""
    organizations = load_organizations(REPO)
    ini = access.grafana_ini(organizations)
    assert ini["users"]["auto_assign_org"] is False
    for section in ("auth.generic_oauth", "auth.jwt"):
        auth = ini[section]
        assert auth["role_attribute_strict"] is True and auth["allow_assign_grafana_admin"] is False
        assert auth["org_mapping"].split() == [f"{o.group}:{o.id}:{o.role}" for o in organizations]
        assert auth["org_attribute_path"] == auth["groups_attribute_path"] == "groups"


def test_macros_match_the_plugin() -> None:
    ctx = QueryContext(TimeRange(1_700_000_000_123, 1_700_003_600_999), 30_000)
    assert expand_macros("$__timeFilter(t)", ctx) == "t >= toDateTime(1700000000) AND t <= toDateTime(1700003600)"
    assert expand_macros("$__timeFilter_ms(t)", ctx) == (
        "t >= fromUnixTimestamp64Milli(1700000000123) AND t <= fromUnixTimestamp64Milli(1700003600999)"
    )
    assert expand_macros("$__timeInterval(t)", ctx) == "toStartOfInterval(toDateTime(t), INTERVAL 30 second)"
    assert expand_macros("$__interval_s", QueryContext(ctx.time_range, 200)) == "1"
    assert expand_macros("$__dateFilter(d)", ctx) == "d >= toDate('2023-11-14') AND d <= toDate('2023-11-14')"
    nested = expand_macros("$__timeInterval(toDateTime(x, 'UTC'))", ctx)
    assert nested == "toStartOfInterval(toDateTime(toDateTime(x, 'UTC')), INTERVAL 30 second)"
    spaced = expand_macros("$__dateTimeFilter( d , t )", ctx)  # arguments are trimmed, as sqlds does
    assert spaced == expand_macros("$__dateTimeFilter(d,t)", ctx) and spaced.startswith("(d >= ")
    with pytest.raises(MacroError, match="missing close bracket"):
        expand_macros("$__timeFilter(t", ctx)
    assert calculate_interval(TimeRange(0, 3_600_000), 100) == 30_000
    assert calculate_interval(TimeRange(0, 3_600_000), 100, "1m") == 60_000


def test_variable_interpolation_matches_grafana() -> None:
    country = VariableState("country", [ALL], ["DE", "US"], "''")
    assert interpolate("x = ${country:sqlstring}", {"country": country}) == "x = ''"
    plain = VariableState("country", [ALL], ["DE", "O'Hare"], None)
    assert interpolate("x IN (${country:sqlstring})", {"country": plain}) == "x IN ('DE','O''Hare')"
    one = VariableState("country", ["O'Hare"], [], "''")
    assert interpolate("${country:singlequote}", {"country": one}) == "'O\\'Hare'"
    assert interpolate("$__conditionalAll(c = ${country:sqlstring}, $country)", {"country": country}) == "1=1"
    assert interpolate("$__conditionalAll(c = ${country:sqlstring}, $country)", {"country": one}) == "c = 'O''Hare'"
    nested = "$__conditionalAll(c IN (${country:sqlstring}), ${country}) AND $__conditionalAll(d = 1, $country)"
    assert interpolate(nested, {"country": country}) == "1=1 AND 1=1"
    assert interpolate("$__conditionalAll(a, b, $country)", {"country": country}) == "$__conditionalAll(a, b, '')"
    # scenes formatRegistry: sqlstring doubles ' and backslashes " (nothing else); percentencode is RFC 3986
    # strict and, unlike other formats, encodes a custom all value too (CustomAllValue.formatter).
    odd = VariableState("country", ["a\"b\\ c'é"], [], "__all")
    assert interpolate("${country:sqlstring}", {"country": odd}) == "'a\\\"b\\ c''é'"
    assert interpolate("${country:percentencode}", {"country": odd}) == "a%22b%5C%20c%27%C3%A9"
    custom = VariableState("country", [ALL], ["DE"], "x y")
    assert interpolate("${country:percentencode}|${country:sqlstring}", {"country": custom}) == "x%20y|x y"


def test_provisioning_env_expansion_keeps_queries_and_fills_endpoints() -> None:
    """Grafana runs os.ExpandEnv over these files: rules must come back intact, endpoints from the env."""
    for rule in alerts.all_rules():
        assert provisioned_rule(rule.uid) == rule.to_file(CONFIG.RUNBOOKS)
    anomaly = alerts.rule("pulse-anomaly-ctr").to_file(CONFIG.RUNBOOKS)
    assert "$__fromTime_ms" in anomaly["data"][0]["model"]["rawSql"]
    unescaped = expand(anomaly, {})  # what Grafana would run had the file not doubled its $
    assert "$__fromTime_ms" not in unescaped["data"][0]["model"]["rawSql"]
    assert expand("a $$b ${X} $Y $__env{Z} $", {"X": "1", "Y": "2", "Z": "3"}) == "a $b 1 2 3 $"
    notes = provisioned(
        "alerting/notifications.yaml", {"PULSE_ALERT_SLACK_PLATFORM_WEBHOOK": "https://hooks.example/x"}
    )
    urls = [r["settings"].get("url") for c in notes["contactPoints"] for r in c["receivers"]]
    assert "https://hooks.example/x" in urls
    variable = datasources.password_variable("pulse_admin")
    sources = expand(datasources.provisioning(load_organizations(REPO)), {variable: "s3cret"})
    assert sources["datasources"][0]["secureJsonData"]["password"] == "s3cret"


def test_grafana_logs_requests_and_plugin_queries_for_the_audit() -> None:
    """The generated grafana.ini (which the chart passes on as GF_* variables): the OSS audit half."""
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string((REPO / "provisioning/access/grafana.ini").read_text())
    assert ini.getboolean("server", "router_logging")
    assert ini.getboolean("plugins", "log_backend_requests")
