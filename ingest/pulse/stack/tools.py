"""The executables the stack needs (Java 17+, Maven, redis-server), installed with apt when missing.

A fresh machine or CI runner has nothing installed by hand, so a missing tool that is configured by
its plain name is installed from Debian's archive; one configured as an explicit path is never
guessed at, it either works or the error names the setting to fix.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from pulse.errors import PulseError

MIN_JAVA = 17
JAVA_PACKAGES = ("openjdk-17-jre-headless",)
MAVEN_PACKAGES = ("maven",)
REDIS_PACKAGES = ("redis-server",)

_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def apt_install(packages: tuple[str, ...], why: str) -> None:
    """``apt-get install -y``; refresh the package lists once if the first attempt fails."""
    if shutil.which("apt-get") is None:
        raise PulseError(f"{why}: apt-get is not available; install {' '.join(packages)} yourself")
    if os.geteuid() != 0:
        raise PulseError(
            f"{why}: installing {' '.join(packages)} with apt-get needs root (run `sudo pulse stack install`)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    first = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if first.returncode == 0:
        return
    update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, check=False)
    second = subprocess.run(install, capture_output=True, text=True, env=env, check=False)
    if second.returncode != 0:
        detail = _last_line(second.stderr or second.stdout or update.stderr)
        raise PulseError(f"{why}: `apt-get install {' '.join(packages)}` failed: {detail}")


def _resolve(executable: str, packages: tuple[str, ...], setting: str, why: str) -> str:
    """The executable's path, apt-installing it when it is configured by bare name and missing."""
    is_path = os.sep in executable
    if is_path:
        if Path(executable).is_file() and os.access(executable, os.X_OK):
            return executable
        raise PulseError(f"{why}: {executable!r} does not exist or is not executable (set {setting})")
    found = shutil.which(executable)
    if found is None:
        apt_install(packages, why)
        found = shutil.which(executable)
    if found is None:
        raise PulseError(f"{why}: {executable!r} is not on PATH even after installing {' '.join(packages)}")
    return found


@cache
def java(executable: str) -> str:
    """A Java executable of version 17 or newer (Kafka 4 and s3proxy need it)."""
    why = "Java 17+ is needed for Kafka and s3proxy"
    path = _resolve(executable, JAVA_PACKAGES, "PULSE_STACK__JAVA", why)
    try:
        out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as error:
        raise PulseError(f"Java 17+ is needed for Kafka and s3proxy: cannot run {path!r}: {error}") from error
    version = java_major(out.stderr + out.stdout)
    if version is None:
        raise PulseError(f"cannot tell the version of {path!r} (`-version` said: {_last_line(out.stderr)})")
    if version < MIN_JAVA:
        raise PulseError(
            f"{path!r} is Java {version}; Kafka {MIN_JAVA}+ is needed (install openjdk-17 or set PULSE_STACK__JAVA)"
        )
    return path


def java_major(version_text: str) -> int | None:
    """``openjdk version "17.0.15"`` -> 17, ``java version "1.8.0_392"`` -> 8."""
    match = _VERSION.search(version_text)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


@cache
def maven(executable: str) -> str:
    """The Maven executable that resolves jars from Maven Central."""
    why = "Maven is needed to fetch the Kafka and s3proxy jars"
    return _resolve(executable, MAVEN_PACKAGES, "PULSE_STACK__MVN", why)


@cache
def redis_server(executable: str) -> str:
    """The redis-server executable (Debian's package)."""
    why = "redis-server is needed for the hot tier"
    return _resolve(executable, REDIS_PACKAGES, "PULSE_STACK__REDIS_SERVER", why)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"
