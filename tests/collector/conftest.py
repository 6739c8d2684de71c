"""The collector tests' own Kafka topics.

Their events carry fixed timestamps (2026-11-22). On the default topics the end-to-end tests'
loader would store them, and windows placed relative to today would count them on some dates.
"""

from __future__ import annotations

import pytest

from pulse.settings import Settings
from pulse.stack.kafka import ensure_topics
from tests.support.stack import StackHandle

TOPIC_PREFIX = "collector-tests"


@pytest.fixture(scope="session")
def kafka_stack(test_stack: StackHandle) -> Settings:
    settings = test_stack.up("kafka")
    own = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": TOPIC_PREFIX})})
    ensure_topics(own)
    return own


@pytest.fixture(scope="session")
def stack_env(kafka_stack: Settings, test_stack: StackHandle) -> dict[str, str]:
    """The stack's ``PULSE_*`` variables for collector processes, with these tests' topics."""
    return {**test_stack.env, "PULSE_KAFKA__TOPIC_PREFIX": kafka_stack.kafka.topic_prefix}
