"""Fixtures for tests/tls: a throwaway PKI, TLS-only Redis and an SSL-only Kafka of this session's own.

They build on the root ``stack_settings`` (its home and ports, from PULSE_TEST_HOME/PULSE_TEST_PORTS) but
start their own processes on free ports, so they never disturb the plaintext test stack.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pulse.settings import Settings

from .pki import Pki, make_pki
from .servers import ssl_kafka, tls_redis


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_redis_settings(
    pki: Pki, stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings whose Redis is a TLS-only redis-server requiring client certificates (rediss://, CA, cert, key)."""
    with tls_redis(pki, tmp_path_factory.mktemp("redis-tls"), stack_settings) as settings:
        yield settings


@pytest.fixture(scope="session")
def tls_settings(
    pki: Pki, tls_redis_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Redis as above and Kafka with only an SSL listener (mutual TLS), topics created over SSL."""
    with ssl_kafka(pki, tmp_path_factory.mktemp("kafka-ssl"), tls_redis_settings) as settings:
        yield settings
