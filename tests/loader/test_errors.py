"""The loader refuses bad configuration with one clear line, not a traceback."""

from pulse.settings import Settings
from tests.support.stack import StackHandle


def test_an_unreachable_broker_is_named_in_one_line(warehouse_stack: Settings, test_stack: StackHandle) -> None:
    assert test_stack.pulse("migrate").returncode == 0
    result = test_stack.pulse(
        "loader",
        "run",
        env={"PULSE_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1", "PULSE_LOADER__METRICS_PORT": "0"},
        timeout=120,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert errors == [errors[0]] and errors[0].startswith("error: loader: cannot reach Kafka at 127.0.0.1:1")
    assert "Traceback" not in result.stderr
