"""Real servers behind real TLS for tests/tls: Redis (TLS-only), Kafka (SSL listener), and a TLS front for
plaintext local services (the chDB warehouse bridge, s3proxy) so their clients are proven over HTTPS.

Each is a process (or thread) of the test's own on free ports, stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from pulse.settings import Settings
from pulse.stack import kafka
from pulse.tls import sync_redis
from pulse.web import free_port

from .pki import Pki


def wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def tls_redis(pki: Pki, folder: Path, settings: Settings) -> Iterator[Settings]:
    """redis-server with its plaintext port off: TLS only, client certificates required (mutual TLS)."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "redis.log"
    argv = [
        settings.stack.redis_server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key),
        "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "yes",
        "--save", "", "--appendonly", "no", "--dir", str(folder),
    ]  # fmt: skip
    redis = settings.redis.model_copy(
        update={
            "url": f"rediss://127.0.0.1:{port}/0",
            "ssl_ca_certs": pki.ca,
            "ssl_certfile": pki.client_cert,
            "ssl_keyfile": pki.client_key,
        }
    )
    tls_settings = settings.model_copy(update={"redis": redis})
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        client = sync_redis(redis, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        except Exception:
            return False
        finally:
            client.close()

    try:
        wait_until(ready, process, log, 30)
        yield tls_settings
    finally:
        stop(process)


def _ssl_server_properties(pki: Pki, settings: Settings) -> str:
    """Overrides laid after the stack's server.properties: the client listener is SSL, mutual TLS, PEM files."""
    host, port, ctrl = "127.0.0.1", settings.kafka.port, settings.kafka.controller_port
    props = {
        "listeners": f"SSL://{host}:{port},CONTROLLER://{host}:{ctrl}",
        "advertised.listeners": f"SSL://{host}:{port}",
        "controller.quorum.voters": f"1@{host}:{ctrl}",
        "inter.broker.listener.name": "SSL",
        "listener.security.protocol.map": "SSL:SSL,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.server_pem),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "ssl.client.auth": "required",
        "ssl.endpoint.identification.algorithm": "https",
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


@contextlib.contextmanager
def ssl_kafka(pki: Pki, home: Path, settings: Settings) -> Iterator[Settings]:
    """A one-node KRaft Kafka from the stack's jars whose only client listener is SSL (mutual TLS)."""
    port, ctrl, metrics = free_port(), free_port(), free_port()
    stack = settings.stack.model_copy(update={"home": home, "kafka_heap": "512m"})
    broker = settings.kafka.model_copy(
        update={
            "bootstrap_servers": f"127.0.0.1:{port}",
            "controller_port": ctrl,
            "metrics_port": metrics,  # the session's own broker holds the configured exporter port
            "partitions": 2,
            "security_protocol": "SSL",
            "ssl_cafile": pki.ca,
            "ssl_certfile": pki.client_cert,
            "ssl_keyfile": pki.client_key,
        }
    )
    tls_settings = settings.model_copy(update={"stack": stack, "kafka": broker})
    kafka.install(tls_settings)
    spec = kafka.spec(tls_settings)  # writes server.properties and formats the log dir
    properties = Path(spec.argv[-1])
    properties.write_text(properties.read_text() + _ssl_server_properties(pki, tls_settings))
    stack.logs_dir.mkdir(parents=True, exist_ok=True)
    log = stack.logs_dir / "kafka-ssl.log"
    with log.open("wb") as out:
        process = subprocess.Popen(list(spec.argv), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: kafka.healthy(tls_settings), process, log, 120)
        kafka.ensure_topics(tls_settings)  # the stack's admin client, over SSL
        yield tls_settings
    finally:
        stop(process)


class TlsFront:
    """A TLS-terminating TCP front for a plaintext local service (like a sidecar or a load balancer would be).

    The service behind it is real (the chDB bridge, s3proxy); only the transport is TLS. With
    ``require_client_cert`` the handshake fails unless the client presents a certificate of the CA.
    """

    def __init__(self, pki: Pki, upstream: tuple[str, int], *, require_client_cert: bool = False) -> None:
        self.upstream = upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        if require_client_cert:
            self.context.load_verify_locations(pki.ca)
            self.context.verify_mode = ssl.CERT_REQUIRED
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.handshakes_failed = 0
        self.client_subjects: list[str] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshakes_failed += 1
            raw.close()
            return
        peer = conn.getpeercert()
        if peer:
            self.client_subjects.append(str(dict(x[0] for x in peer["subject"]).get("commonName")))
        with conn, socket.create_connection(self.upstream) as back:
            sockets = [conn, back]
            while not self._closed.is_set():
                readable = [conn] if conn.pending() else select.select(sockets, [], [], 1.0)[0]
                done = False
                for source in readable:
                    target = back if source is conn else conn
                    try:
                        data = source.recv(65536)
                    except (ssl.SSLError, OSError):
                        data = b""
                    if not data:
                        done = True
                        break
                    target.sendall(data)
                if done:
                    return

    def close(self) -> None:
        self._closed.set()
        self.listener.close()
