"""Redis, the hot tier: Debian's ``redis-server`` run in the foreground with a generated config.

Append-only persistence is on so the hot tier survives a restart of the stack, like production.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import redis

from pulse.settings import Settings
from pulse.stack import tools
from pulse.stack.process import ServiceSpec
from pulse.stack.service import Service

NAME = "redis"


def install(settings: Settings) -> bool:
    """apt-get install redis-server when it is missing; True when it was."""
    missing = shutil.which(settings.stack.redis_server) is None
    tools.redis_server(settings.stack.redis_server)
    return missing


def config(settings: Settings) -> str:
    data = (settings.stack.data_dir / NAME).absolute()
    lines = {
        "bind": settings.stack.host,
        "port": str(settings.redis.port),
        "protected-mode": "yes",
        "daemonize": "no",
        "supervised": "no",
        "dir": str(data),
        "appendonly": "yes",
        "appendfsync": "everysec",
        "save": '""',
        "logfile": '""',
        "databases": "16",
    }
    return "".join(f"{key} {value}\n" for key, value in lines.items())


def spec(settings: Settings) -> ServiceSpec:
    executable = tools.redis_server(settings.stack.redis_server)
    (settings.stack.data_dir / NAME).mkdir(parents=True, exist_ok=True)
    conf_dir = settings.stack.run_dir / NAME
    conf_dir.mkdir(parents=True, exist_ok=True)
    conf: Path = conf_dir / "redis.conf"
    conf.write_text(config(settings))
    return ServiceSpec(
        name=NAME,
        argv=[executable, str(conf.absolute())],
        port=settings.redis.port,
        host=settings.stack.host,
        ready=lambda: healthy(settings),
    )


def healthy(settings: Settings) -> bool:
    """Redis answers PING."""
    client = redis.Redis.from_url(settings.redis.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


SERVICE = Service(name=NAME, port=lambda settings: settings.redis.port, spec=spec, healthy=healthy, install=install)
