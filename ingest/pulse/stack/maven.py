"""Jars from Maven Central, resolved by Maven into a cached ``libs`` folder.

Kafka and s3proxy ship as Maven artifacts, so a generated pom plus ``dependency:copy-dependencies``
is all the downloading the stack does. A marker file holding the pom's hash makes a second install
instant, and the folder only appears once complete, so an interrupted download is redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pulse.errors import PulseError
from pulse.settings import Settings
from pulse.stack import tools

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
MARKER = ".pulse-complete"
TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str


def pom(name: str, artifacts: list[Artifact]) -> str:
    """A dependency-only pom: Maven's nearest-wins rule lets direct entries override transitive ones."""
    deps = "\n".join(
        f"    <dependency><groupId>{a.group}</groupId><artifactId>{a.artifact}</artifactId>"
        f"<version>{a.version}</version></dependency>"
        for a in artifacts
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pulse.stack</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def libs_dir(settings: Settings, name: str, version: str) -> Path:
    """Where a Java service's jars live: ``<cache>/<name>-<version>/libs``, shared by every stack home."""
    return settings.stack.cache_dir / f"{name}-{version}" / "libs"


def install(settings: Settings, name: str, pom_text: str, libs: Path) -> bool:
    """Java, then the pom's jars in ``libs``; False when nothing was downloaded.

    Maven is looked up (and apt-installed if need be) only when the jars are missing, so a cached
    install works on a machine without Maven.
    """
    tools.java(settings.stack.java)
    if is_installed(libs, pom_text):
        return False
    return fetch(tools.maven(settings.stack.mvn), name, pom_text, libs)


def is_installed(libs: Path, pom_text: str) -> bool:
    marker = libs / MARKER
    return marker.is_file() and marker.read_text() == _digest(pom_text)


def fetch(mvn: str, name: str, pom_text: str, libs: Path) -> bool:
    """Make ``libs`` hold the pom's jars; False when it already did (nothing downloaded)."""
    if is_installed(libs, pom_text):
        return False
    libs.parent.mkdir(parents=True, exist_ok=True)
    with _lock(libs.parent / f".{libs.name}.lock"):
        if is_installed(libs, pom_text):  # another process finished it while we waited
            return False
        work = libs.parent / f".{libs.name}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        pom_path = work / "pom.xml"
        pom_path.write_text(pom_text)
        jars = work / "libs"
        command = [
            mvn, "-q", "-B", "-f", str(pom_path),
            f"{DEPENDENCY_PLUGIN}:copy-dependencies", f"-DoutputDirectory={jars}",
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise PulseError(f"{name}: Maven did not finish downloading within {TIMEOUT_S:.0f}s") from error
        if result.returncode != 0 or not any(jars.glob("*.jar")):
            raise PulseError(f"{name}: downloading jars from Maven Central failed: {_maven_error(result)}")
        (jars / MARKER).write_text(_digest(pom_text))
        shutil.rmtree(libs, ignore_errors=True)
        jars.rename(libs)
        shutil.rmtree(work, ignore_errors=True)
        return True


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Serialise installs across processes (parallel test sessions, `up` racing `install`)."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _maven_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if "ERROR" in line]
    if not lines:
        return f"mvn exited with code {result.returncode}"
    return lines[0].replace("[ERROR]", "").strip()[:300]
