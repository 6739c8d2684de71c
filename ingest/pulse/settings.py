"""One typed settings object for every Pulse process, read from ``PULSE_*`` environment variables.

Nested sections use ``__``: ``PULSE_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` sets
``settings.kafka.bootstrap_servers``. Every field has a default that runs the embedded
local stack on loopback, so ``pulse`` works with no configuration at all.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, IPvAnyNetwork
from pydantic_settings import BaseSettings, SettingsConfigDict

from pulse.hot.keys import DEFAULT_PREFIX

LOOPBACK = "127.0.0.1"


def _blank_is_none(value: Any) -> Any:
    """Deployments set every key and leave unused files empty (``PULSE_REDIS__SSL_CA_CERTS=""``): that means none."""
    return None if isinstance(value, str) and not value.strip() else value


#: A PEM file (CA bundle, certificate or key); unset or empty means none. pulse.tls checks it exists.
OptionalFile = Annotated[Path | None, BeforeValidator(_blank_is_none)]


class StackSettings(BaseModel):
    """Where the local stack keeps its state, and what it installs."""

    home: Path = Field(default=Path(".pulse"), description="state folder: data, logs, pid files")
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "pulse",
        description="downloads kept across stacks (Kafka jars)",
    )
    host: str = Field(default=LOOPBACK, description="address every local service binds to")
    java: str = Field(default="java", description="Java 17+ executable used to run Kafka")
    mvn: str = Field(default="mvn", description="Maven executable that fetches the Kafka and s3proxy jars")
    redis_server: str = Field(default="redis-server", description="redis-server executable")
    s3proxy_version: str = "4.1.0"
    kafka_version: str = "4.1.1"
    kafka_heap: str = "1g"
    start_timeout_s: float = 90.0

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"


class KafkaSettings(BaseModel):
    bootstrap_servers: str = f"{LOOPBACK}:9092"
    controller_port: int = 9093
    metrics_port: int = Field(
        default=9404, description="the stack's broker serves Prometheus metrics here (JMX exporter agent)"
    )
    partitions: int = Field(default=4, description="partitions per topic created by the stack")
    topic_prefix: str = "pulse"
    client_id: str = "pulse"
    security_protocol: Literal["PLAINTEXT", "SSL"] = Field(
        default="PLAINTEXT", description="SSL: every Kafka client (producer, consumers, admin) speaks TLS"
    )
    ssl_cafile: OptionalFile = Field(default=None, description="CA bundle the broker certificates must chain to")
    ssl_certfile: OptionalFile = Field(default=None, description="client certificate (mutual TLS, e.g. a KafkaUser)")
    ssl_keyfile: OptionalFile = Field(default=None, description="key of ssl_certfile")
    ssl_check_hostname: bool = Field(default=True, description="the broker certificate must name the host dialled")

    @property
    def port(self) -> int:
        return int(self.bootstrap_servers.rsplit(":", 1)[1].split(",")[0])

    def topic(self, family: str) -> str:
        return f"{self.topic_prefix}.{family}"


class ClickHouseSettings(BaseModel):
    """How clients reach the warehouse: a ClickHouse server, or the embedded chDB bridge."""

    url: str = Field(default=f"http://{LOOPBACK}:8123", description="ClickHouse HTTP(S) endpoint")
    database: str = "pulse"
    username: str = "default"
    password: str = ""
    ca_cert: OptionalFile = Field(default=None, description="CA bundle for an https:// URL (default: system CAs)")
    verify: bool = Field(default=True, description="verify the server certificate (false only for throwaway tests)")
    client_cert: OptionalFile = Field(
        default=None, description="client certificate (mutual TLS); with a password both are checked"
    )
    client_cert_key: OptionalFile = Field(default=None, description="key of client_cert")
    embedded_path: Path | None = Field(
        default=None, description="chDB data folder served by `pulse warehouse serve` (default: home/data/chdb)"
    )
    cluster: str | None = Field(
        default=None,
        description="ClickHouse cluster (system.clusters) `pulse migrate` renders the schema for; None: one node",
    )
    embedded_config_d: Path | None = Field(
        default=None,
        description="folder of ClickHouse config.d XML fragments the embedded engine also loads (users, logs)",
    )
    embedded_pool_size: int = Field(
        default=4, ge=1, description="chDB connections `pulse warehouse serve` runs queries on in parallel"
    )
    embedded_queue_wait_ms: int = Field(
        default=5000,
        ge=0,
        description=(
            "how long a query waits for a free chDB connection before the bridge answers 503 "
            "TOO_MANY_SIMULTANEOUS_QUERIES (ClickHouse's queue_max_wait_ms; a request may set its own)"
        ),
    )
    ingestion: Literal["loader", "kafka-engine"] = Field(
        default="loader",
        description=(
            "how events reach `events`: loader (pulse loader run, exactly-once) or kafka-engine (the server's "
            "own Kafka tables, at-least-once; migrations add them; never both)"
        ),
    )

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].rstrip("/"))


class RedisSettings(BaseModel):
    url: str = Field(default=f"redis://{LOOPBACK}:6379/0", description="rediss://... for TLS")
    ssl_ca_certs: OptionalFile = Field(default=None, description="CA bundle for a rediss:// URL (default: system CAs)")
    ssl_certfile: OptionalFile = Field(default=None, description="client certificate (Redis tls-auth-clients)")
    ssl_keyfile: OptionalFile = Field(default=None, description="key of ssl_certfile")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])


class S3Settings(BaseModel):
    endpoint_url: str | None = Field(default=f"http://{LOOPBACK}:9000", description="None means AWS S3")
    region: str = "us-east-1"
    bucket: str = "pulse-archive"
    access_key_id: str = "pulse"
    secret_access_key: str = "pulse-secret"  # noqa: S105 - the local stack's own S3 server only
    sse: str | None = Field(default=None, description="AES256 or aws:kms")
    sse_kms_key_id: str | None = None
    ca_bundle: OptionalFile = Field(default=None, description="CA bundle for an https endpoint (default: system CAs)")

    @property
    def port(self) -> int:
        assert self.endpoint_url is not None
        return int(self.endpoint_url.rsplit(":", 1)[1].rstrip("/"))


class CollectorSettings(BaseModel):
    host: str = LOOPBACK
    port: int = 8080
    workers: int = 1
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    auth: str = Field(
        default="keys", description="keys: only write keys made by `pulse keys create`; open: any non-empty key (demo)"
    )
    rate_limit_events_per_s: int = Field(default=200_000, description="per write key unless the key sets its own")
    key_cache_ttl_s: float = Field(default=10.0, description="how long a worker trusts a cached key lookup")
    dim_cache_size: int = Field(default=200_000, description="user/post context entries cached per worker")
    dim_cache_ttl_s: float = 60.0
    delivery_timeout_s: float = Field(default=5.0, description="Kafka ack wait before a request gets 503")
    max_buffered_events: int = Field(default=50_000, description="unacknowledged events per worker before 503")
    retry_after_s: int = 5
    max_in_flight: int = Field(
        default=256, ge=1, description="requests a worker handles at once; more are shed at once with 503 + Retry-After"
    )
    body_read_timeout_s: float = Field(
        default=10.0, gt=0, description="time to receive a whole request body before 408 (slow-loris clients)"
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="request line + headers larger than this are refused with 431"
    )
    auth_failures_per_minute: int = Field(
        default=20, ge=0, description="unknown write keys per client address per minute before 429 (0: no limit)"
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default=[],
        description="addresses/CIDRs of proxies whose X-Forwarded-For names the client (JSON list); else the peer",
    )
    tracking_plans: Path | None = Field(
        default=None,
        description="folder of per-source tracking plans <source>.yaml (default: provisioning/tracking-plans)",
    )
    tls_certfile: OptionalFile = Field(default=None, description="serve HTTPS with this certificate chain")
    tls_keyfile: OptionalFile = Field(default=None, description="key of tls_certfile")


class ApiSettings(BaseModel):
    """The read API (`pulse api run`): who may call it (JWT from the IdP) and which ClickHouse user runs each call."""

    host: str = LOOPBACK
    port: int = 8090
    workers: int = 1
    issuer: str = Field(default="", description="the IdP's issuer; a token's iss must equal it")
    audience: str = Field(default="pulse-api", description="a token's aud must contain it")
    jwks_url: str = Field(default="", description="the IdP's JWKS (default: issuer + /.well-known/jwks.json)")
    algorithms: list[str] = Field(default=["RS256"], description="signature algorithms accepted")
    leeway_s: float = Field(default=30.0, ge=0, description="clock skew tolerated on exp/nbf/iat")
    jwks_cache_s: int = Field(default=300, ge=1, description="how long fetched signing keys are trusted")
    role_claim: str = Field(default="groups", description="claim naming the caller's role (a string or a list)")
    department_claim: str = Field(default="groups", description="claim naming the caller's department")
    role_groups: dict[str, str] = Field(
        default={"pulse-admins": "Admin", "pulse-managers": "Manager", "pulse-analysts": "Analyst", "pulse-api": "api"},
        description="claim value -> role of the access definition (a role's own name also counts)",
    )
    department_groups: dict[str, str] = Field(
        default={"pulse-growth": "growth", "pulse-content": "content", "pulse-ads": "ads", "pulse-finance": "finance"},
        description="claim value -> department of the access definition (a department's own name also counts)",
    )
    passwords: dict[str, str] = Field(
        default={}, description="ClickHouse data source user -> its password (PULSE_API__PASSWORDS__PULSE_API=...)"
    )
    definition: Path | None = Field(
        default=None, description="the access definition (default: provisioning/access/access.yaml)"
    )
    audit_flush_s: float = Field(default=2.0, gt=0, description="audit rows are written at least this often")
    audit_batch_rows: int = Field(default=500, ge=1, description="... or as soon as this many are waiting")
    audit_max_buffered: int = Field(default=100_000, ge=1, description="rows kept while the warehouse is down")
    tls_certfile: OptionalFile = Field(default=None, description="serve HTTPS with this certificate chain")
    tls_keyfile: OptionalFile = Field(default=None, description="key of tls_certfile")

    @property
    def jwks(self) -> str:
        return self.jwks_url or self.issuer.rstrip("/") + "/.well-known/jwks.json"


class LoaderSettings(BaseModel):
    """Kafka -> ClickHouse loader: batches are cut by size or age, whichever comes first."""

    group_id: str = "pulse-warehouse-loader"
    max_batch_rows: int = 50_000
    max_batch_age_ms: int = 500
    max_concurrent_writes: int = Field(default=4, description="partitions' batches inserted side by side")
    group_partitions: bool = Field(
        default=True,
        description=(
            "one insert per flush across every partition and topic (far fewer inserts, each running the "
            "views below events once); off: one insert per partition's range (pulse.loader.sink)"
        ),
    )
    repeat_flush_within_s: int = Field(
        default=300,
        ge=0,
        description=(
            "a crashed flush recorded this recently is repeated whole under its token when rebuilt (views "
            "the warehouse had not written are completed); older ones are checked offset by offset, as the "
            "tables' deduplication window may have forgotten the token"
        ),
    )
    metrics_port: int = 9464
    dedup_window_s: int = Field(
        default=3600, description="a messageId seen on the same partition this recently is a client retry: dropped"
    )
    dedup_max_ids: int = Field(default=500_000, description="messageIds remembered per partition (bounds memory)")


class HotSettings(BaseModel):
    """Kafka -> Redis hot layer: last minutes of counters, trending, uniques, active sessions."""

    group_id: str = "pulse-hot-layer"
    metrics_port: int = 9465
    key_prefix: str = Field(default=DEFAULT_PREFIX, description="every hot-layer key starts with this")
    retention_s: int = Field(default=900, description="a bucket lives this long after its end (N9: 15 min)")
    max_batch_rows: int = 20_000
    max_batch_age_ms: int = 200
    window_refresh_ms: int = Field(default=1_000, description="how often trending/uniques windows are rebuilt")
    redis_probe_ms: int = Field(default=1_000, description="how often Redis's INFO is read into pulse_redis_* metrics")
    trending_half_life_s: float = Field(default=120.0, description="decay of trending scores by bucket age")
    active_session_s: int = Field(default=300, description="a session is active this long after its last event")
    marker_ttl_s: int = Field(default=7 * 24 * 3600, description="life of the applied-offset markers")


class ArchiveSettings(BaseModel):
    """Kafka -> S3 Parquet archive (cold tier) and its replay into the warehouse."""

    group_id: str = "pulse-archiver"
    metrics_port: int = 9466
    prefix: str = Field(default="raw", description="key prefix of archive objects inside settings.s3.bucket")
    max_batch_rows: int = 100_000
    max_batch_bytes: int = 64 * 1024 * 1024
    max_batch_age_ms: int = 10_000
    max_concurrent_writes: int = Field(
        default=2, description="ranges of different partitions encoded and uploaded at once (Arrow uses the cores)"
    )
    clickhouse_s3_endpoint: str | None = Field(
        default=None, description="S3 endpoint as ClickHouse reaches it (default: settings.s3.endpoint_url)"
    )
    replay_batch_rows: int = Field(
        default=500_000,
        ge=1,
        le=1 << 20,
        description="replay inserts consecutive objects of a partition together, up to this many offsets",
    )


class RetentionSettings(BaseModel):
    """How long each tier keeps data: `pulse retention apply` makes the warehouse's TTLs match.

    Durations are a count and a unit: s, m, h, d, w, mo, y (``30d``). The hot tier's is
    ``hot.retention_s`` (Redis key expiry, 15 min).
    """

    raw: str = Field(default="30d", description="raw rows: events, rejected_events, loader_dead_letters")
    tables: dict[str, str] = Field(
        default_factory=dict,
        description='other tables by name, e.g. {"engagement_per_hour": "1095d"} (default: the migration\'s TTL)',
    )
    archive: str | None = Field(
        default=None, description="S3 Parquet archive; None keeps it indefinitely (a bucket lifecycle rule enforces it)"
    )


class GrafanaSettings(BaseModel):
    """The Grafana ``pulse access apply --grafana`` converges: a server admin (organizations need one)."""

    url: str = Field(default="http://127.0.0.1:3000", description="Grafana base URL (--grafana overrides it)")
    admin_user: str = Field(default="admin", description="a Grafana server admin: only they create organizations")
    admin_password: str = Field(default="", description="its password (basic auth)")
    timeout_s: float = Field(default=10.0, gt=0, description="per HTTP call")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PULSE_", env_nested_delimiter="__", extra="ignore")

    stack: StackSettings = StackSettings()
    kafka: KafkaSettings = KafkaSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    redis: RedisSettings = RedisSettings()
    s3: S3Settings = S3Settings()
    collector: CollectorSettings = CollectorSettings()
    api: ApiSettings = ApiSettings()
    loader: LoaderSettings = LoaderSettings()
    hot: HotSettings = HotSettings()
    archive: ArchiveSettings = ArchiveSettings()
    retention: RetentionSettings = RetentionSettings()
    grafana: GrafanaSettings = GrafanaSettings()
    log_level: str = "INFO"

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse.embedded_path or self.stack.data_dir / "chdb"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
