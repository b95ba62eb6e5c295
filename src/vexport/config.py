"""Configuration: one TOML file, every value overridable by ``VEXPORT_*`` variables.

No file means the embedded default: SQLite and results under ``data_dir``, one
local agent, and a demo camera, so ``vexport serve`` works with nothing set up.
Nested values use ``__`` in variable names: ``VEXPORT_SESSIONS__RETENTION=10m``.

Sources, highest first (``docs/configuration.md``): values passed to
``load_settings`` (command-line options, tests), then ``VEXPORT_*``
environment variables, then the file, then the defaults. Every section
refuses keys it does not know, so a typo never silently falls back to a
default.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from vexport.timeutil import parse_duration

if TYPE_CHECKING:
    from vexport.s3.client import S3Endpoint

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Section(BaseModel):
    """A configuration section: unknown keys are an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class ServerConfig(Section):
    grpc: str = "127.0.0.1:50051"
    http: str = "127.0.0.1:8080"
    data_dir: Path = Path("var")
    # Log lines as "text" or "json" (one object a line); `--log-format` overrides it.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # How long a graceful shutdown waits for in-flight RPCs.
    shutdown_grace: Duration = timedelta(seconds=5)
    # Web origins ("https://ops.example") allowed to call the HTTP API from a browser
    # (CORS, and the Origin check of state-changing calls); none by default.
    browser_origins: list[str] = Field(default_factory=list)


class SessionsConfig(Section):
    max_running: int = Field(default=5, ge=1)
    # Sessions waiting per agent beyond the running ones; more is RESOURCE_EXHAUSTED.
    max_queued: int = Field(default=100, ge=0)
    watchdog_live_clip: Duration = timedelta(minutes=5)
    watchdog: Duration = timedelta(minutes=30)
    retention: Duration = timedelta(hours=1)
    # A removed session still answers S_REMOVED this long before it is forgotten.
    removed_kept: Duration = timedelta(days=2)
    # How often the timers look for expired sessions.
    timer_interval: Duration = timedelta(seconds=1)
    # Live snapshot: wait this long for a decodable frame.
    snapshot_wait: Duration = timedelta(seconds=10)
    # Live input: pause before reopening a dropped input.
    reconnect_delay: Duration = timedelta(seconds=1)
    # Live clip: how long to wait for the input's first packet before failing.
    live_connect_timeout: Duration = timedelta(seconds=15)
    database_url: str | None = None  # default: sqlite under data_dir


class AgentConfig(Section):
    access_point: str
    max_running: int | None = Field(default=None, ge=1)
    max_queued: int | None = Field(default=None, ge=0)


class ArchiveConfig(Section):
    storage: str
    url: str


class SourceConfig(Section):
    origin: str
    name: str | None = None
    live: str | None = None
    # RTP of an rtsp:// live URL: interleaved in the RTSP connection (works through NAT
    # and firewalls) or over UDP (a LAN, lower latency). rtsps:// is always TCP.
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    archives: list[ArchiveConfig] = Field(default_factory=list)
    # The export agent that runs this origin's exports unless the request names one.
    agent: str | None = None

    @model_validator(mode="after")
    def _transport_needs_rtsp(self) -> SourceConfig:
        if "rtsp_transport" not in self.model_fields_set:
            return self
        scheme = urlsplit(self.live).scheme.lower() if self.live else ""
        if scheme not in ("rtsp", "rtsps"):
            raise ValueError("rtsp_transport applies to an rtsp:// live URL only")
        if scheme == "rtsps" and self.rtsp_transport == "udp":
            raise ValueError("rtsps:// carries RTP in its TLS connection: udp is not possible")
        return self


class DemoConfig(Section):
    """The synthetic camera of the embedded default (``vexport demo`` / plain ``serve``)."""

    enabled: bool = False
    origin: str = "demo/camera1"
    storage: str = "demo/archive"
    size: str = "320x180"
    fps: int = 25
    segment_seconds: float = 2.0
    # How much recorded history the demo archive keeps.
    keep: Duration = timedelta(minutes=10)


class MediaConfig(Section):
    ffmpeg: str | None = None
    # How a copy meets a start or end between keyframes: "smart" (re-encode the partial
    # groups of pictures at the ends: exact in every player), "edit_list" (MP4/MOV start at
    # the keyframe before, trimmed by an edit list; others as smart), "keyframe" (never
    # re-encode for a cut). See docs/design/smart-cut.md.
    cut: Literal["smart", "edit_list", "keyframe"] = "smart"  # media.decision.CutMode
    # Privacy masks: "mosaic" (pixelation) or a solid colour "#RRGGBB".
    mask_fill: str = Field(default="mosaic", pattern=r"^(mosaic|#[0-9A-Fa-f]{6})$")
    # Mosaic cell size, as a fraction of the frame's shorter side.
    mosaic_cell: float = Field(default=0.05, gt=0, le=0.5)


class S3Config(Section):
    """How to reach S3 (archives at ``s3://`` URLs, the result store).

    Unset values fall back to boto3's defaults: region and credentials from
    the environment, shared config files or an instance role.
    """

    region: str | None = None
    # Any S3-compatible endpoint (MinIO, Ceph RGW): "https://minio.example:9000".
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None:
            from vexport.s3.client import S3Endpoint  # boto3 is slow to import

            S3Endpoint(endpoint_url=value)  # raises ValueError naming endpoint_url
        return value

    @model_validator(mode="after")
    def _both_keys_or_neither(self) -> S3Config:
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("set both access_key and secret_key, or neither")
        return self


class ResultsConfig(Section):
    """Where finished files live, and where ``cloud_export`` delivers them."""

    # "local": under data_dir (the embedded default); "s3": in store_bucket, so that any
    # replica serves any download (scaled out).
    store: Literal["local", "s3"] = "local"
    store_bucket: str | None = None
    store_prefix: str = ""

    # Sessions with cloud_export upload their files to s3://s3_bucket/s3_prefix<session>/<file>.
    s3_bucket: str | None = None
    s3_prefix: str = ""

    @field_validator("s3_bucket", "store_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None:
            from vexport.s3.client import split_s3_url

            split_s3_url(f"s3://{value}/k")  # raises ValueError for a bad bucket name
        return value

    @field_validator("s3_prefix", "store_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value:
            from vexport.s3.client import safe_key

            safe_key(value + "x")  # raises ValueError for '..', leading '/', …
        return value

    @model_validator(mode="after")
    def _store_has_a_bucket(self) -> ResultsConfig:
        if self.store == "s3" and self.store_bucket is None:
            raise ValueError('store = "s3" needs store_bucket')
        return self


class ExportToS3DirConfig(Section):
    """``POST /export-to-s3dir``: off until at least one caller id is configured."""

    # The SessionId values callers authenticate with; none configured: the call is refused.
    session_ids: list[SecretStr] = Field(default_factory=list)
    # Buckets whose archives callers may cut from, read with the [s3] keys; "*" allows any.
    archive_buckets: list[str] = Field(default_factory=list)
    # Buckets results may be uploaded to (with the caller's key); "*" allows any.
    destination_buckets: list[str] = Field(default_factory=lambda: ["*"])
    max_running: int = Field(default=2, ge=1)
    # TimeWait: how long a caller is told to wait before polling again.
    time_wait: Duration = timedelta(seconds=2)
    # Longest Duration a request may ask for.
    max_duration: Duration = timedelta(hours=1)
    # A finished export answers the same request this long; then it is forgotten.
    retention: Duration = timedelta(hours=24)
    # A failed export answers its error this long; the same request then runs again.
    failure_kept: Duration = timedelta(seconds=30)
    # The key of the requests' fingerprints (hex, 32 bytes or more). Replicas sharing a
    # database must share it; unset: a key made once in data_dir (one replica).
    fingerprint_key: SecretStr | None = None

    @field_validator("fingerprint_key")
    @classmethod
    def _hex_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                key = bytes.fromhex(value.get_secret_value())
            except ValueError:
                raise ValueError("fingerprint_key must be hex") from None
            if len(key) < 32:
                raise ValueError("fingerprint_key must be at least 32 bytes (64 hex digits)")
        return value


class JobsConfig(Section):
    """The job engine: where exports run, and how a dead worker is noticed.

    ``executor = "local"`` runs exports in threads of the serving process (the
    embedded default). ``"celery"`` publishes them to a Celery queue per agent,
    served by ``vexport agent`` processes; ``vexport serve`` then runs only the
    APIs and the timers. See ``docs/design/jobs.md``.
    """

    executor: Literal["local", "celery"] = "local"
    # Celery broker (Redis by default; amqp://guest:guest@host// works too).
    broker_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # Queue names are this prefix plus the agent's access point.
    queue_prefix: str = Field(default="vexport.agent.", max_length=100)
    # This process's name as the owner of the jobs it runs (default: host and data_dir).
    # Replicas and workers sharing a database must have different names.
    node: str | None = Field(default=None, min_length=1, max_length=200)
    # A running job writes its lease (and progress, and reads stop requests) this often.
    heartbeat_interval: Duration = timedelta(seconds=1)
    # A job whose lease is this old lost its worker: it is re-run or failed.
    heartbeat_timeout: Duration = timedelta(seconds=30)
    # Runs of one job at most (re-runs after a lost worker or a restart); live clips run once.
    max_attempts: int = Field(default=2, ge=1, le=10)
    # A queued job no worker took is published again after this (then twice as long, …).
    republish_after: Duration = timedelta(seconds=15)

    @model_validator(mode="after")
    def _timeout_above_interval(self) -> JobsConfig:
        if self.heartbeat_timeout < 3 * self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must be at least 3 heartbeat_interval")
        return self


Role = Literal["viewer", "exporter", "admin"]


class UserConfig(Section):
    """A user of the APIs (``docs/configuration.md``, ``docs/design/auth.md``)."""

    name: str = Field(min_length=1, max_length=200)
    # An Argon2 ("$argon2id$...") or scrypt ("$scrypt$...") hash: `vexport auth hash-password`.
    password_hash: SecretStr | None = None
    # Long-lived API tokens, as their hashes ("sha256:<hex>"): `vexport auth new-token`.
    tokens: list[SecretStr] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=lambda: list[Role](["viewer"]))
    groups: list[str] = Field(default_factory=list)
    # Client certificates (mTLS, signed by [tls] client_ca_file) that log in as this user,
    # by their subject common name or a DNS/URI subject alternative name.
    certificates: list[str] = Field(default_factory=list)
    # Origins this user may export and see (globs: "hosts/site1/*"); unset: every origin
    # (unless a group limits them).
    origins: list[str] | None = None
    # Which sessions the user sees: its own, or everyone's (within its origins).
    sessions: Literal["own", "all"] = "own"

    @field_validator("password_hash")
    @classmethod
    def _a_hash(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("$argon2", "$scrypt$")):
            raise ValueError(
                "password_hash must be an Argon2 or scrypt hash (vexport auth hash-password), "
                "never the password"
            )
        return value

    @field_validator("tokens")
    @classmethod
    def _token_hashes(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        for token in tokens:
            text = token.get_secret_value()
            digest = text.removeprefix("sha256:")
            if not text.startswith("sha256:") or len(digest) != 64 or not _is_hex(digest):
                raise ValueError(
                    "tokens are hashes 'sha256:<64 hex digits>' (vexport auth new-token), "
                    "never the token"
                )
        return tokens


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


class GroupConfig(Section):
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(default_factory=list)
    origins: list[str] | None = None


class OidcConfig(Section):
    """Bearer tokens that are JWTs from an identity provider, checked against its keys."""

    issuer: str
    audience: str | None = None
    # The provider's key set: a URL (fetched, then cached) or a local file.
    jwks_url: str | None = None
    jwks_file: Path | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    user_claim: str = "sub"
    roles_claim: str = "roles"
    groups_claim: str = "groups"

    @model_validator(mode="after")
    def _one_key_set(self) -> OidcConfig:
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("set one of jwks_url and jwks_file")
        return self


class AuthConfig(Section):
    """Who may call the APIs. Off by default: the embedded default on loopback is open."""

    enabled: bool = False
    users: list[UserConfig] = Field(default_factory=list)
    groups: list[GroupConfig] = Field(default_factory=list)
    # A TOML file with more [[users]] and [[groups]] (read at start).
    users_file: Path | None = None
    # Session tokens (AuthenticateEx2) expire after this; RenewSession2 gives a new one,
    # also for an expired token, until renew_window after it was first issued.
    session_ttl: Duration = timedelta(hours=1)
    renew_window: Duration = timedelta(hours=12)
    # HTTP paths answered without a token (exact, or a prefix ending in "*").
    # The operator page's code holds no data (its API calls need a token); health and
    # metrics are for load balancers and Prometheus.
    open_routes: list[str] = Field(
        default_factory=lambda: ["/", "/web/*", "/healthz", "/readyz", "/metrics"]
    )
    # gRPC methods answered without a token ("/package.Service/Method", or ".../*").
    open_grpc_methods: list[str] = Field(default_factory=lambda: ["/grpc.health.v1.Health/*"])
    # Serve without authentication on a non-loopback address (refused unless set).
    allow_open_network: bool = False
    # Wrong passwords for one user name: after max_failures within lockout, its logins
    # are refused (AUTHENTICATE_CODE_USER_LOCKED) until lockout has passed (per process).
    max_failures: int = Field(default=10, ge=1)
    lockout: Duration = timedelta(minutes=5)
    oidc: OidcConfig | None = None

    @field_validator("users")
    @classmethod
    def _unique_users(cls, users: list[UserConfig]) -> list[UserConfig]:
        names = [user.name for user in users]
        if len(set(names)) != len(names):
            raise ValueError("user names must be unique")
        return users


class TlsConfig(Section):
    """TLS for both APIs; with client_ca_file, clients must present a certificate (mTLS)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    # How often the files are checked for a new certificate (reloaded without a restart).
    reload_interval: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _cert_and_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file, or neither")
        if self.client_ca_file is not None and self.cert_file is None:
            raise ValueError("client_ca_file needs cert_file and key_file")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None


class EvidenceConfig(Section):
    """Signed export manifests and content credentials (docs/design/evidence.md).

    Without ``signing_key`` a key is generated on first run under
    ``data_dir/evidence/`` (owner-only) and the server warns that it is
    self-signed. ``certificate_chain`` (PEM, leaf first, the leaf certifying
    ``signing_key``) is what C2PA credentials are signed with; without it no
    C2PA manifest is embedded. ``retired_keys`` (PEM public keys or
    certificates) stay published so exports signed before a rotation verify.
    """

    # A signed manifest (and its signature) with every session's files.
    manifest: bool = True
    signing_key: Path | None = None
    signing_key_password: SecretStr | None = None
    certificate_chain: Path | None = None
    retired_keys: list[Path] = Field(default_factory=list)
    # C2PA content credentials in MP4/MOV/JPEG/PNG/PDF (sidecar .c2pa for MKV/TS/AVI);
    # needs certificate_chain.
    c2pa: bool = True
    # The time-stamping authority C2PA signatures ask for a time stamp (none: no TSA).
    c2pa_tsa_url: str | None = None


DEFAULT_AGENT = "hosts/local/MMExportAgent.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VEXPORT_", env_nested_delimiter="__", extra="forbid"
    )

    server: ServerConfig = Field(default_factory=ServerConfig)
    export_to_s3dir: ExportToS3DirConfig = Field(default_factory=ExportToS3DirConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    agents: list[AgentConfig] = Field(
        default_factory=lambda: [AgentConfig(access_point=DEFAULT_AGENT)]
    )
    sources: list[SourceConfig] = Field(default_factory=list)
    demo: DemoConfig = Field(default_factory=DemoConfig)
    media: MediaConfig = Field(default_factory=MediaConfig)
    s3: S3Config = Field(default_factory=S3Config)
    results: ResultsConfig = Field(default_factory=ResultsConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)

    @field_validator("agents")
    @classmethod
    def _at_least_one_agent(cls, agents: list[AgentConfig]) -> list[AgentConfig]:
        if not agents:
            raise ValueError("configure at least one [[agents]] entry")
        names = [a.access_point for a in agents]
        if len(set(names)) != len(names):
            raise ValueError("agent access points must be unique")
        return agents

    @field_validator("sources")
    @classmethod
    def _unique_origins(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        origins = [s.origin for s in sources]
        if len(set(origins)) != len(origins):
            raise ValueError("source origins must be unique")
        return sources

    @model_validator(mode="after")
    def _pins_name_agents(self) -> Settings:
        agents = {a.access_point for a in self.agents}
        for source in self.sources:
            if source.agent is not None and source.agent not in agents:
                raise ValueError(
                    f"source {source.origin!r}: agent {source.agent!r} is not an [[agents]] entry"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Highest first: explicit values, the environment, the file (then the defaults).
        return (init_settings, env_settings, _FileSource(settings_cls))

    @property
    def database_url(self) -> str:
        if self.sessions.database_url:
            return self.sessions.database_url
        return f"sqlite:///{self.server.data_dir.resolve() / 'vexport.db'}"

    @property
    def results_dir(self) -> Path:
        return self.server.data_dir / "results"

    def s3_endpoint(self) -> S3Endpoint:
        """The configured S3 endpoint, with its credentials (if any)."""
        from vexport.s3.client import S3Credentials, S3Endpoint

        s3 = self.s3
        credentials = None
        if s3.access_key is not None and s3.secret_key is not None:
            credentials = S3Credentials(s3.access_key, s3.secret_key.get_secret_value())
        return S3Endpoint(
            region=s3.region,
            endpoint_url=s3.endpoint_url,
            credentials=credentials,
            addressing_style=s3.addressing_style,
        )


_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("vexport_config_file", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The TOML file's contents, below the environment and explicit values."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_DATA.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """The settings from ``overrides``, over ``VEXPORT_*`` variables, over the TOML file.

    ``VEXPORT_CONFIG`` names the file when ``path`` is not given. With neither,
    the embedded default is used and the demo camera is switched on (an
    explicit ``demo.enabled`` anywhere still wins).
    """
    env_path = os.environ.get("VEXPORT_CONFIG")
    file_path = path or (Path(env_path) if env_path else None)
    data: dict[str, Any] = {}
    if file_path is not None:
        with open(file_path, "rb") as handle:
            data = tomllib.load(handle)
    else:
        data = {"demo": {"enabled": True}}
    token = _FILE_DATA.set(data)
    try:
        return Settings(**overrides)
    finally:
        _FILE_DATA.reset(token)
