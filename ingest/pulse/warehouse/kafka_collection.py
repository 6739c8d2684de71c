"""Where the warehouse's own Kafka tables read from: the ``pulse_kafka`` named collection and one macro.

The kafka-engine migrations (``clickhouse/schema/kafka_engine``) say ``ENGINE = Kafka(pulse_kafka)``
and ``kafka_topic_list = '{pulse_topic_prefix}.interactions'`` instead of carrying brokers,
credentials and topic names, so their SQL is static and holds no secret. A ClickHouse server gets
both from its ``config.d`` (the Helm chart renders them); the embedded engine gets this fragment,
rendered from the settings, only when ``clickhouse.ingestion`` is ``kafka-engine``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from pulse.settings import Settings

#: The named collection every Kafka table of the kafka-engine migrations names.
NAME = "pulse_kafka"
#: The macro the Kafka tables' topic and consumer-group names start with (``settings.kafka.topic_prefix``).
TOPIC_PREFIX_MACRO = "pulse_topic_prefix"


def _element(key: str, value: str) -> str:
    return f"<{key}>{escape(value)}</{key}>"


def fragment(settings: Settings) -> str | None:
    """The ``config.d`` fragment: collection, macro, and librdkafka's TLS files (server-wide, as ClickHouse wants)."""
    if settings.clickhouse.ingestion != "kafka-engine":
        return None
    kafka = settings.kafka
    collection = _element("kafka_broker_list", kafka.bootstrap_servers)
    tls = ""
    if kafka.security_protocol == "SSL":
        collection += _element("kafka_security_protocol", "ssl")
        files = {
            "ssl_ca_location": kafka.ssl_cafile,
            "ssl_certificate_location": kafka.ssl_certfile,
            "ssl_key_location": kafka.ssl_keyfile,
        }
        tls = "<kafka>" + "".join(_element(k, str(v)) for k, v in files.items() if v is not None) + "</kafka>"
    return (
        f"<clickhouse><named_collections><{NAME}>{collection}</{NAME}></named_collections>"
        f"<macros>{_element(TOPIC_PREFIX_MACRO, kafka.topic_prefix)}</macros>{tls}</clickhouse>\n"
    )
