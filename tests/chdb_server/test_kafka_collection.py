"""The ``config.d`` fragment that kafka-engine mode gives the embedded engine: collection, macro, TLS files."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from pulse.settings import Settings
from pulse.warehouse.kafka_collection import fragment


def _settings(**kafka: object) -> Settings:
    return Settings(clickhouse={"ingestion": "kafka-engine"}, kafka=kafka)  # type: ignore[arg-type]


def test_loader_mode_renders_nothing() -> None:
    assert fragment(Settings()) is None


def test_brokers_and_topic_prefix_are_rendered_as_the_migrations_name_them() -> None:
    rendered = fragment(_settings(bootstrap_servers="a:9092,b&c:9092", topic_prefix="tenant<1>"))
    assert rendered is not None
    root = ElementTree.fromstring(rendered)
    assert root.findtext("named_collections/pulse_kafka/kafka_broker_list") == "a:9092,b&c:9092"
    assert root.findtext("macros/pulse_topic_prefix") == "tenant<1>"
    assert root.find("named_collections/pulse_kafka/kafka_security_protocol") is None
    assert root.find("kafka") is None


def test_tls_names_the_protocol_in_the_collection_and_the_files_server_wide(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("-----BEGIN-----")
    rendered = fragment(
        _settings(security_protocol="SSL", ssl_cafile=files["ca"], ssl_certfile=files["cert"], ssl_keyfile=files["key"])
    )
    assert rendered is not None
    root = ElementTree.fromstring(rendered)
    assert root.findtext("named_collections/pulse_kafka/kafka_security_protocol") == "ssl"
    assert root.findtext("kafka/ssl_ca_location") == str(files["ca"])
    assert root.findtext("kafka/ssl_certificate_location") == str(files["cert"])
    assert root.findtext("kafka/ssl_key_location") == str(files["key"])
