"""Full-disk faults: the S3 server's and the warehouse's data folders on small tmpfs volumes that can be filled.

A size-capped folder needs a mount, so this needs root (``mount -t tmpfs``); without it the disk
faults are skipped with that reason. Each service is stopped, its data copied onto the volume
mounted over its folder and started again; ``restore`` copies the data back to the real folder,
so nothing written during the run is lost when the volume goes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pulse.settings import Settings
from pulse.stack import stack

#: The services whose disk can be filled, and where each keeps its data.
DISK_SERVICES = ("s3", "warehouse")
CHUNK = b"\0" * (1 << 20)


def data_dir(settings: Settings, service: str) -> Path:
    return (settings.chdb_path if service == "warehouse" else settings.stack.data_dir / "s3").absolute()


def _used_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, measured while its service runs: a part the warehouse
    merges away between the listing and the stat is skipped (``os.walk`` ignores a vanished folder)."""
    total = 0
    for root, _folders, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(root) / name).lstat().st_size
    return total


def _copy_contents(source: Path, target: Path) -> None:
    for entry in source.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target / entry.name, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, target / entry.name, follow_symlinks=False)


class Disks:
    """tmpfs volumes under the disk services; ``fill``/``release`` make one full and free again.

    ``headroom_mb`` is what a volume holds beyond the data copied onto it. It must hold a whole run
    and the warehouse's merges (a merge writes its new part before the old ones go): with 160 MB the
    warehouse ran out of space on its own, outside the fault, for minutes (a stalled loader, and once
    a merged part committed with empty files). tmpfs takes memory only for what is written.
    """

    def __init__(self, settings: Settings, headroom_mb: int = 1024) -> None:
        self.settings = settings
        self.headroom_mb = headroom_mb
        self.mounted: list[str] = []
        self.reason: str | None = None

    def prepare(self) -> str | None:
        """Mount the volumes (services restarted onto them); the reason when that is impossible, else None."""
        if os.geteuid() != 0:
            self.reason = "needs root: a size-capped folder is a tmpfs mount (mount -t tmpfs), not possible as a user"
            return self.reason
        for service in DISK_SERVICES:
            folder = data_dir(self.settings, service)
            folder.mkdir(parents=True, exist_ok=True)
            size_mb = _used_bytes(folder) // (1 << 20) + self.headroom_mb
            stack.down(self.settings, stack.select([service]))
            with tempfile.TemporaryDirectory(prefix=f"pulse-chaos-{service}-", dir=folder.parent) as staging:
                _copy_contents(folder, Path(staging))
                mounted = subprocess.run(
                    ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
                    capture_output=True,
                    text=True,
                )
                if mounted.returncode != 0:
                    self.reason = f"mount -t tmpfs failed: {mounted.stderr.strip() or mounted.returncode}"
                    stack.up(self.settings, stack.select([service]))
                    self.restore()
                    return self.reason
                self.mounted.append(service)
                _copy_contents(Path(staging), folder)
            stack.up(self.settings, stack.select([service]))
        return None

    def ballast(self, service: str) -> Path:
        return data_dir(self.settings, service) / ".chaos-ballast"

    def fill(self, service: str) -> int:
        """Write a ballast file until the volume is full (ENOSPC); the bytes written."""
        written = 0
        with self.ballast(service).open("wb") as sink:
            try:
                while True:
                    sink.write(CHUNK)
                    sink.flush()
                    written += len(CHUNK)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
        return written

    def release(self, service: str) -> None:
        self.ballast(service).unlink(missing_ok=True)

    def restore(self) -> None:
        """Stop each service on a volume, copy its data back to the real folder, unmount, start it again."""
        for service in list(self.mounted):
            folder = data_dir(self.settings, service)
            self.release(service)
            stack.down(self.settings, stack.select([service]))
            with tempfile.TemporaryDirectory(prefix=f"pulse-chaos-{service}-", dir=folder.parent) as staging:
                _copy_contents(folder, Path(staging))
                subprocess.run(["umount", str(folder)], check=True)
                self.mounted.remove(service)
                for entry in folder.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                _copy_contents(Path(staging), folder)
            with contextlib.suppress(Exception):
                stack.up(self.settings, stack.select([service]))
