"""`pulse chaos` ended by SIGTERM cleans up as after Ctrl-C (its volumes would otherwise stay mounted)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

PROGRAM = """
import sys, time
from pathlib import Path
from pulse.chaos.cli import interrupt_on_sigterm
interrupt_on_sigterm()
marker = Path(sys.argv[1])
try:
    marker.write_text("running")
    time.sleep(60)
finally:
    marker.write_text("cleaned up")
"""


def test_sigterm_runs_the_cleanup(tmp_path: Path) -> None:
    marker = tmp_path / "state"
    process = subprocess.Popen([sys.executable, "-c", PROGRAM, str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the program did not start"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        process.kill()
    assert marker.read_text() == "cleaned up"
    assert process.returncode != 0, "an interrupted run must not exit as a success"
