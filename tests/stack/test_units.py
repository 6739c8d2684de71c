"""Pure pieces of the stack: settings travel to children intact, Java versions parse, configs are sane."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pulse.settings import Settings
from pulse.stack import kafka, stack
from pulse.stack.env import settings_env
from pulse.stack.tools import java_major
from tests.support.stack import isolated_settings


def test_settings_env_round_trips_to_an_equal_settings_object(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = isolated_settings(Path(".pulse-test").absolute())
    for key in [key for key in os.environ if key.startswith("PULSE_")]:
        monkeypatch.delenv(key)
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_java_versions_parse_old_and_new_schemes() -> None:
    assert java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert java_major('java version "1.8.0_392"') == 8
    assert java_major('openjdk version "21" 2023-09-19') == 21
    assert java_major("no java here") is None


def test_kafka_properties_use_the_configured_ports() -> None:
    settings = isolated_settings(Path(".pulse-test"))
    props = kafka.server_properties(settings)
    assert f"PLAINTEXT://127.0.0.1:{settings.kafka.port}" in props
    assert f"1@127.0.0.1:{settings.kafka.controller_port}" in props
    assert "--standalone" not in props


def test_services_start_in_dependency_order() -> None:
    assert stack.NAMES == ("kafka", "redis", "s3", "warehouse")
    assert [service.name for service in stack.select(["warehouse", "kafka"])] == ["kafka", "warehouse"]
