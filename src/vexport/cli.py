"""The ``vexport`` command: serve, demo, and a client for the export API."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NoReturn

import grpc
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from vexport.config import Settings, load_settings
from vexport.timeutil import (
    TimestampError,
    format_timestamp,
    parse_duration,
    parse_timestamp,
    utcnow,
)

app = typer.Typer(help="vexport: clips and snapshots from camera archives and live streams.")
client_app = typer.Typer(help="Drive a vexport server over gRPC.")
app.add_typer(client_app, name="client")
console = Console(stderr=True)

ServerOption = Annotated[
    str, typer.Option("--server", envvar="VEXPORT_TARGET", help="gRPC address of the server.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="VEXPORT_CONFIG", help="TOML configuration file."),
]


def main() -> None:
    app()


def _show_version(value: bool) -> None:
    if value:
        import vexport

        print(f"vexport {vexport.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """vexport: clips and snapshots from camera archives and live streams."""


# -- server ------------------------------------------------------------------


LogLevelOption = Annotated[
    str | None,
    typer.Option(help="debug, info, warning, error (default: [server] log_level, info)."),
]
LogFormatOption = Annotated[
    str | None,
    typer.Option("--log-format", help="text or json (default: [server] log_format, text)."),
]


def _die(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: what an operator needs, not a traceback."""
    print(f"vexport: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _settings(config: Path | None, **overrides: object) -> Settings:
    """The settings, or a one-line reason they cannot be loaded."""
    import tomllib

    from pydantic import ValidationError

    try:
        return load_settings(config, **overrides)
    except FileNotFoundError as exc:
        _die(f"configuration file {exc.filename} does not exist")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        _die(f"configuration file is not valid TOML: {exc}")
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'configuration'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        _die("invalid configuration: " + "; ".join(problems))


def _logging(settings: Settings, level: str | None, fmt: str | None) -> None:
    from vexport.logs import configure

    chosen_level = (level or settings.server.log_level).lower()
    chosen_format = (fmt or settings.server.log_format).lower()
    if chosen_level not in ("debug", "info", "warning", "error"):
        _die(f"--log-level: {level!r} is not one of debug, info, warning, error")
    if chosen_format not in ("text", "json"):
        _die(f"--log-format: {fmt!r} is not one of text, json")
    configure(chosen_level, "json" if chosen_format == "json" else "text")


def _startup_failure(exc: Exception, settings: Settings) -> NoReturn:
    """The known ways a server fails to start, each as one line (exit 1)."""
    from sqlalchemy.exc import SQLAlchemyError

    from vexport.redact import redact_url

    if isinstance(exc, SQLAlchemyError):
        reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()[0]
        _die(f"cannot open the job database {redact_url(settings.database_url)}: {reason}", 1)
    _die(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 1)


@app.command()
def serve(
    config: ConfigOption = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="Add the synthetic demo camera.")
    ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run the export service (gRPC and HTTP). Without a config file: defaults and a demo camera."""
    overrides: dict[str, object] = {}
    if demo is not None:
        overrides["demo"] = {"enabled": demo}
    settings = _settings(config, **overrides)
    _logging(settings, log_level, log_format)
    from sqlalchemy.exc import SQLAlchemyError

    from vexport.api.access import OpenNetworkRefused
    from vexport.jobs.node import NodeInUse

    try:
        asyncio.run(_serve(settings))
    except OpenNetworkRefused as exc:
        _die(f"refusing to start: {exc}", 2)
    except (NodeInUse, OSError, SQLAlchemyError) as exc:
        _startup_failure(exc, settings)


@app.command()
def agent(
    access_point: Annotated[
        str, typer.Option("--access-point", "-a", help="The export agent whose queue to serve.")
    ],
    config: ConfigOption = None,
    node: Annotated[
        str | None,
        typer.Option(help="This worker's name as the owner of its jobs ([jobs] node)."),
    ] = None,
    metrics_address: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            envvar="VEXPORT_AGENT_METRICS",
            help="Serve this worker's Prometheus metrics on HOST:PORT (/metrics).",
        ),
    ] = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Run an export agent's worker (scaled out: [jobs] executor = "celery")."""
    settings = _settings(config)
    _logging(settings, log_level, log_format)
    if access_point not in [a.access_point for a in settings.agents]:
        _die(f"no [[agents]] entry {access_point!r} in the configuration")
    from sqlalchemy.exc import SQLAlchemyError

    from vexport.agent import run_agent
    from vexport.jobs.node import NodeInUse

    try:
        if metrics_address is not None:
            _serve_agent_metrics(metrics_address)
        run_agent(
            settings,
            access_point,
            node=node,
            log_level=(log_level or settings.server.log_level).upper(),
        )
    except (NodeInUse, OSError, SQLAlchemyError) as exc:
        _startup_failure(exc, settings)


def _serve_agent_metrics(address: str) -> None:
    from prometheus_client import start_http_server

    from vexport import metrics

    host, _, port = address.rpartition(":")
    if not port.isdigit():
        _die(f"--metrics: {address!r} is not HOST:PORT")
    try:
        start_http_server(
            int(port), addr=host.strip("[]") or "127.0.0.1", registry=metrics.REGISTRY
        )
    except OSError as exc:
        raise OSError(f"cannot serve metrics on {address}: {exc.strerror or exc}") from None


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Bring the job database to the current schema (every process also does at start)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    from vexport.jobs.migrate import upgrade

    settings = _settings(config)
    engine = create_engine(settings.database_url)
    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        _startup_failure(exc, settings)
    finally:
        engine.dispose()
    console.print("the job database is up to date")


@app.command()
def audit(
    config: ConfigOption = None,
    session: Annotated[str | None, typer.Option(help="Only this session's events.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this user's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="The newest this many events.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List the audit log: who started, downloaded, stopped and destroyed what, from where."""
    from sqlalchemy import create_engine

    from vexport.jobs.accounts import SqlAuditSink
    from vexport.jobs.migrate import upgrade

    settings = load_settings(config)
    engine = create_engine(settings.database_url)
    try:
        upgrade(engine)
        events = SqlAuditSink(engine).events(limit=limit, session_id=session, user=user)
    finally:
        engine.dispose()
    for event in events:
        if as_json:
            print(json.dumps(event.to_json(), sort_keys=True))
            continue
        extra = " ".join(
            f"{key}={value}" for key, value in event.details.items() if value not in (None, "")
        )
        console.print(
            f"{event.at.isoformat()} {event.user} {event.action} {event.outcome} "
            f"{event.session_id or '-'} {event.client or '-'} {extra}",
            markup=False,
            highlight=False,
        )


auth_app = typer.Typer(help="Users and tokens for [auth] (docs/configuration.md).")
app.add_typer(auth_app, name="auth")


@auth_app.command("hash-password")
def auth_hash_password(
    scheme: Annotated[str, typer.Option(help="argon2 or scrypt")] = "argon2",
) -> None:
    """Read a password (not echoed) and print its hash for a user's password_hash."""
    from vexport.auth.passwords import hash_password

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    print(hash_password(password, scheme))


@auth_app.command("new-token")
def auth_new_token() -> None:
    """Make an API token: the token (give it to the client) and its hash (for tokens = [...])."""
    from vexport.auth.tokens import API_PREFIX, new_token, token_hash

    token = new_token(API_PREFIX)
    print(f"token: {token}")
    print(f"hash:  {token_hash(token)}")


@app.command()
def verify(
    files: Annotated[
        list[Path], typer.Argument(help="Files, directories or evidence ZIP packages of an export.")
    ],
    archive: Annotated[
        list[str] | None,
        typer.Option(
            "--archive",
            help="Directory or URL of the recorded segments: check every copied video packet.",
        ),
    ] = None,
    key: Annotated[
        list[Path] | None,
        typer.Option("--key", help="Trusted public key or certificate (PEM) of the exporter."),
    ] = None,
    c2pa_trust: Annotated[
        Path | None,
        typer.Option("--c2pa-trust", help="PEM anchors trusted for C2PA credentials."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", envvar="VEXPORT_PACKAGE_PASSWORD", help="ZIP password."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check an export without a server: signature, hashes, missing and foreign files, C2PA,
    and with --archive that every copied packet is the camera's own (docs/design/evidence.md)."""
    import json

    from vexport.errors import VexportError
    from vexport.evidence.keys import load_public_key
    from vexport.evidence.verify import collect_parts, verify_parts

    try:
        missing = [str(f) for f in files if not f.exists()]
        if missing:
            raise typer.BadParameter(f"no such file: {', '.join(missing)}")
        trusted = [load_public_key(k) for k in key or []]
        parts = collect_parts(files, password)
        report = verify_parts(
            parts,
            trusted=trusted,
            archive=archive or [],
            c2pa_trust=c2pa_trust.read_bytes() if c2pa_trust else None,
        )
    except (VexportError, OSError, RuntimeError) as exc:
        console.print(f"[red]cannot verify:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
    raise typer.Exit(0 if report.ok else 1)


@app.command("demo")
def demo_command(
    config: ConfigOption = None,
    log_level: LogLevelOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Serve with the synthetic demo camera (live test pattern and a recorded HLS archive)."""
    serve(config=config, demo=True, log_level=log_level, log_format=log_format)


async def _serve(settings: Settings) -> None:
    from vexport.app import App  # imported here so client commands start fast

    application = App(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await application.start()
    except BaseException:
        await application.stop()
        raise
    if application.demo is not None:
        console.print(
            f"[green]demo camera[/green] {settings.demo.origin!r} is recording; "
            "in another terminal try:\n"
            f"  vexport client start --origin {settings.demo.origin} --last 10s --out exports/"
        )
    await stopping.wait()
    logging.getLogger("vexport").info("shutting down")
    await application.stop()


# -- client ------------------------------------------------------------------
#
# What the client promises (docs/api.md, "The command-line client"): every file
# gets a name of its own (the server's name, the file's time range and the
# session), nothing is overwritten without --force, a download is checked against
# the SHA-256 the session lists (a resumed one that does not match starts over),
# and with --json the one machine-readable answer is on stdout, every human
# message on stderr.

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout (messages on stderr).")
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Overwrite files that exist with other content.")
]
CHUNK_KB = 1024


class _Output:
    """Where a command's answer and its messages go."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def say(self, message: str) -> None:
        console.print(message)

    def answer(self, data: object, human: str | None = None) -> None:
        if self.as_json:
            print(json.dumps(data, indent=2, default=str))
        elif human is not None:
            print(human)

    def fail(self, code: str, message: str, status: int = 1) -> NoReturn:
        console.print(f"[red]{code}[/red]: {escape(message)}")
        if self.as_json:
            print(json.dumps({"error": {"code": code, "message": message}}))
        raise typer.Exit(status)

    def rpc_failed(self, error: grpc.RpcError) -> NoReturn:
        self.fail(error.code().name, error.details() or "")


def _stub(server: str):  # type: ignore[no-untyped-def]
    """A stub as a vendor client makes it: TLS if ``VEXPORT_CA`` names the server's CA,
    then ``VEXPORT_TOKEN`` (or a login with ``VEXPORT_USER``/``VEXPORT_PASSWORD``) as the
    ``authorization`` metadata of every call."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

    options = [("grpc.max_receive_message_length", 8 << 20)]
    ca = os.environ.get("VEXPORT_CA")
    if ca:
        credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca).read_bytes())
        channel = grpc.secure_channel(server, credentials, options=options)
    else:
        channel = grpc.insecure_channel(server, options=options)
    metadata = _login_metadata(channel)
    if metadata is not None:
        channel = grpc.intercept_channel(channel, _WithMetadata(metadata))
    return spb_grpc.ExportServiceStub(channel)


def _login_metadata(channel: grpc.Channel) -> tuple[str, str] | None:
    token = os.environ.get("VEXPORT_TOKEN")
    if token:
        return ("authorization", f"Bearer {token}")
    user = os.environ.get("VEXPORT_USER")
    if not user:
        return None
    from vexport.protos.axxonsoft.bl.auth import Authentication_pb2 as apb
    from vexport.protos.axxonsoft.bl.auth import Authentication_pb2_grpc as apb_grpc

    answer = apb_grpc.AuthenticationServiceStub(channel).AuthenticateEx2(
        apb.AuthenticateRequest(user_name=user, password=os.environ.get("VEXPORT_PASSWORD", ""))
    )
    if answer.error_code != apb.AUTHENTICATE_CODE_OK:
        console.print(f"[red]login failed[/red]: {answer.error_description.description}")
        raise typer.Exit(1)
    return (answer.token_name, answer.token_value)


class _WithMetadata(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, pair: tuple[str, str]) -> None:
        self.pair = pair

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), self.pair])

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)


def _parse_when(text: str) -> datetime:
    """Absolute timestamps, ``now``, or relative ones like ``-30s`` / ``-2m``."""
    if text == "now":
        return utcnow()
    try:
        if text.startswith("-"):
            return utcnow() - parse_duration(text[1:])
        return parse_timestamp(text)
    except (TimestampError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None


def _duration(text: str, option: str) -> timedelta:
    try:
        return parse_duration(text)
    except (TimestampError, ValueError) as exc:
        raise typer.BadParameter(f"{option}: {exc}") from None


_STREAM_FORMATS = {"mp4": 4, "mkv": 1, "avi": 2, "ts": 1000, "mov": 1001}
_SNAPSHOT_FORMATS = {"jpeg": 1, "jpg": 1, "pdf": 2, "png": 1000}
_CODECS = {"copy": 0, "mjpeg": 1, "mpeg4": 2, "h264": 3, "h265": 1000}
_AUDIO_CODECS = {"copy": 0, "g711": 1, "mp2": 2, "aac": 1000, "opus": 1001}
_QUALITIES = {
    "best": 0, "fine": 1, "good": 2, "normal": 3, "small": 4, "tiny": 5, "best-size": 6,
    "medium": 7,
}  # fmt: skip
_FRAME_RATES = {"original": 0, "half": 1, "quarter": 2, "octant": 3}
_PDF_LAYOUTS = {"portrait": 0, "landscape": 1}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
               "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}  # fmt: skip


def _choice(value: str | None, choices: dict[str, int], option: str) -> int | None:
    if value is None:
        return None
    key = value.lower()
    if key not in choices:
        raise typer.BadParameter(f"{option}: {value!r} is not one of {', '.join(choices)}")
    return choices[key]


def _size(text: str | None) -> int:
    """``10MB``, ``512KiB``, ``2000000``: bytes."""
    if text is None:
        return 0
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _SIZE_UNITS:
        raise typer.BadParameter(f"--max-size: {text!r} is not a size like 10MB or 512KiB")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _numbers(text: str, option: str, count: int | None = None) -> list[float]:
    try:
        numbers = [float(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        raise typer.BadParameter(f"{option}: {text!r} is not comma-separated numbers") from None
    if count is not None and len(numbers) != count:
        raise typer.BadParameter(f"{option}: {text!r} needs {count} numbers")
    return numbers


def _polygon(text: str) -> list[tuple[float, float]]:
    """``x,y;x,y;x,y``: normalised points (0..1, origin top-left)."""
    points = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        x, y = _numbers(part, "--mask", 2)
        points.append((x, y))
    if len(points) < 3:
        raise typer.BadParameter(f"--mask: {text!r} needs at least three points x,y;x,y;x,y")
    return points


def client_options(
    *,
    origin: list[str],
    start: str | None,
    end: str | None,
    last: str | None,
    live: bool,
    duration: str | None,
    snapshot: bool,
    fmt: str | None,
    max_size: str | None,
    agent: str,
    storage: str | None,
    cloud_export: bool,
    codec: str | None = None,
    audio_codec: str | None = None,
    quality: str | None = None,
    fps: str | None = None,
    timestamp: str | None = None,
    comment: str | None = None,
    timezone_minutes: int | None = None,
    masks: list[str] | None = None,
    invert_mask: bool = False,
    crop: str | None = None,
    pdf: str | None = None,
) -> Any:
    """The ``Options`` message (``pb.Options``) the ``client start`` options ask for.

    Raises ``typer.BadParameter`` for a combination that cannot mean anything.
    """
    from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

    if live and (last or start or end):
        given = ", ".join(
            name for name, value in (("--last", last), ("--from", start), ("--to", end)) if value
        )
        raise typer.BadParameter(
            f"{given} cannot go with --live: a live export starts now; give --duration for a "
            "clip's length, or leave --live out to export from the archive"
        )
    if duration and not live:
        raise typer.BadParameter("--duration is the length of a --live clip; use --from/--to")
    if snapshot and (duration or last or end):
        raise typer.BadParameter("a --snapshot is one frame: give --from (or nothing with --live)")
    if pdf is not None and not snapshot:
        raise typer.BadParameter("--pdf lays out a PDF snapshot: add --snapshot")
    options = pb.Options(
        max_file_size=_size(max_size), export_agent_access_point=agent, cloud_export=cloud_export
    )
    sources: list[Any]
    if live:
        sources = [options.live.sources.add(origin=name) for name in origin]
        if duration and not snapshot:
            options.live.duration.FromTimedelta(_duration(duration, "--duration"))
    else:
        if last:
            end_at = utcnow() - timedelta(seconds=2)
            start_at = end_at - _duration(last, "--last")
        else:
            if start is None:
                raise typer.BadParameter("give --from (and --to for a clip), or --last")
            start_at = _parse_when(start)
            end_at = _parse_when(end) if end else start_at
        options.archive.start_timestamp = format_timestamp(start_at)
        if not snapshot:
            if end is None and not last:
                raise typer.BadParameter("an archive clip needs --to (or use --last)")
            options.archive.end_timestamp = format_timestamp(end_at)
        sources = []
        for name in origin:
            source = options.archive.sources.add(origin=name)
            if storage:
                source.storages.append(storage)
            sources.append(source)
    name = (fmt or ("pdf" if pdf else "jpeg" if snapshot else "mp4")).lower()
    if snapshot:
        options.snapshot.format = _choice(name, _SNAPSHOT_FORMATS, "--format")  # type: ignore[assignment]
        if pdf is not None:
            if name != "pdf":
                raise typer.BadParameter("--pdf needs --format pdf")
            layout = _choice(pdf, _PDF_LAYOUTS, "--pdf")
            options.snapshot.settings.add(pdf_layout=layout)
        if codec or audio_codec or quality or fps:
            raise typer.BadParameter("--codec, --audio-codec, --quality and --fps are for clips")
    else:
        options.stream.format = _choice(name, _STREAM_FORMATS, "--format")  # type: ignore[assignment]
        for field, value, choices, option in (
            ("video_codec", codec, _CODECS, "--codec"),
            ("audio_codec", audio_codec, _AUDIO_CODECS, "--audio-codec"),
            ("video_quality", quality, _QUALITIES, "--quality"),
            ("frame_frequency", fps, _FRAME_RATES, "--fps"),
        ):
            number = _choice(value, choices, option)
            if number is not None:
                options.stream.settings.add(**{field: number})
    if timestamp is not None:
        options.settings.add(timestamp_format=timestamp)
    if comment is not None:
        options.settings.add(comment=comment)
    if timezone_minutes is not None:
        options.settings.add(timezone=timezone_minutes)
    polygons = [_polygon(text) for text in masks or ()]
    if polygons:
        options.settings.add(apply_mask=True)
        if invert_mask:
            options.settings.add(invert_mask=True)
    elif invert_mask:
        raise typer.BadParameter("--invert-mask needs a --mask")
    crop_area = _numbers(crop, "--crop", 4) if crop else None
    for source in sources:
        if polygons:
            setting = source.settings.add()
            for points in polygons:
                polygon = setting.mask_space.space.add()
                for x, y in points:
                    polygon.points.add(x=x, y=y)
        if crop_area is not None:
            left, top, right, bottom = crop_area
            source.settings.add().crop_area.CopyFrom(
                pb.ViewArea(left=left, top=top, right=right, bottom=bottom)
            )
    return options


@client_app.command("start")
def client_start(
    origin: Annotated[list[str], typer.Option("--origin", "-o", help="Origin(s) to export.")],
    start: Annotated[str | None, typer.Option("--from", help="Start: timestamp, or -30s.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End: timestamp, now, or -5s.")] = None,
    last: Annotated[
        str | None,
        typer.Option("--last", help="Archive clip of the last N (10s), ending 2s ago."),
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Export live video from now on.")] = False,
    duration: Annotated[
        str | None,
        typer.Option("--duration", help="Live clip length (10s); without it: until stopped."),
    ] = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="A single frame.")] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="mp4 mkv ts avi mov | jpeg png pdf")
    ] = None,
    codec: Annotated[
        str | None, typer.Option(help="Video codec: copy h264 h265 mjpeg mpeg4.")
    ] = None,
    audio_codec: Annotated[
        str | None, typer.Option(help="Audio codec: copy aac opus g711 mp2.")
    ] = None,
    quality: Annotated[
        str | None,
        typer.Option(help="best fine good normal small tiny best-size medium."),
    ] = None,
    fps: Annotated[
        str | None, typer.Option(help="Frame rate: original half quarter octant.")
    ] = None,
    timestamp: Annotated[
        str | None,
        typer.Option(
            "--timestamp", metavar="FORMAT", help="Burn in each frame's time (strftime: %%F %%T)."
        ),
    ] = None,
    comment: Annotated[str | None, typer.Option(help="Burn in this comment.")] = None,
    timezone_minutes: Annotated[
        int | None, typer.Option("--timezone", help="Overlay time zone, minutes east of UTC.")
    ] = None,
    mask: Annotated[
        list[str] | None,
        typer.Option(
            "--mask", metavar="x,y;x,y;...", help="Privacy mask polygon, 0..1 (repeatable)."
        ),
    ] = None,
    invert_mask: Annotated[
        bool, typer.Option("--invert-mask", help="Hide all but the masks.")
    ] = False,
    crop: Annotated[
        str | None, typer.Option(metavar="left,top,right,bottom", help="Crop area, 0..1.")
    ] = None,
    max_size: Annotated[
        str | None, typer.Option("--max-size", help="Split into files of at most this (10MB).")
    ] = None,
    max_file_size: Annotated[
        int | None, typer.Option(help="The same in bytes (older spelling).", hidden=True)
    ] = None,
    pdf: Annotated[
        str | None, typer.Option(help="PDF snapshot page: portrait or landscape.")
    ] = None,
    agent: Annotated[str, typer.Option(help="Export agent access point.")] = "",
    storage: Annotated[str | None, typer.Option(help="Archive storage to read.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the result.")] = True,
    out: Annotated[
        Path | None, typer.Option("--out", help="Download the files into this directory.")
    ] = None,
    force: ForceOption = False,
    cloud_export: Annotated[
        bool, typer.Option("--cloud-export", help="Also upload the files to the S3 result store.")
    ] = False,
    as_json: JsonOption = False,
    evidence_package: Annotated[
        bool, typer.Option("--evidence-package", help="Also one ZIP to hand over (verifiable).")
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            envvar="VEXPORT_PACKAGE_PASSWORD",
            help="AES-256 encrypt the evidence package (implies --evidence-package).",
        ),
    ] = None,
    evidence_lock: Annotated[
        bool, typer.Option("--evidence-lock", help="Keep the session past retention.")
    ] = False,
    server: ServerOption = "127.0.0.1:50051",
) -> None:
    """Start an export session; by default wait for it and download the files with --out."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    output = _Output(as_json)
    if max_size is None and max_file_size:
        max_size = str(max_file_size)
    options = client_options(
        origin=origin, start=start, end=end, last=last, live=live, duration=duration,
        snapshot=snapshot, fmt=fmt, max_size=max_size,
        agent=agent, storage=storage, cloud_export=cloud_export, codec=codec,
        audio_codec=audio_codec, quality=quality, fps=fps, timestamp=timestamp, comment=comment,
        timezone_minutes=timezone_minutes, masks=mask, invert_mask=invert_mask, crop=crop, pdf=pdf,
    )  # fmt: skip
    if evidence_package or password:
        options.settings.add(evidence_package=True)
    if password:
        if snapshot:
            raise typer.BadParameter("--password encrypts a clip's evidence package")
        options.stream.settings.add(password=password)
    if evidence_lock:
        options.settings.add(evidence_lock=True)
    stub = _stub(server)
    try:
        reply = stub.StartSession(spb.StartSessionRequest(session_options=options))
    except grpc.RpcError as error:
        output.rpc_failed(error)
    session_id = reply.started_session_id
    unbounded = live and not snapshot and not duration
    if unbounded:
        output.say(
            f"session {session_id}: a live clip without --duration records until stopped: "
            f"press Ctrl-C here (the clip is kept), or run `vexport client stop {session_id}`"
        )
    if not wait:
        output.answer({"session_id": session_id}, session_id)
        return
    if not as_json:
        print(session_id)
    state = _wait(stub, session_id, output, unbounded=unbounded)
    _print_state(session_id, state, output)
    saved: list[dict[str, object]] = []
    problem: str | None = None
    if out is not None and state.result.succeeded:
        for file in state.result.files:
            try:
                path = _download(
                    stub, session_id, file, out, output, force=force,
                    files=state.result.files,
                )  # fmt: skip
            except _DownloadRefused as refused:
                problem = str(refused)
                output.say(f"[red]{escape(problem)}[/red]")
                continue
            saved.append({"path": file.path, "saved_to": str(path), "sha256": file.sha256})
    output.answer({"session_id": session_id, "state": _state_json(state), "saved": saved})
    if not state.result.succeeded or problem is not None:
        raise typer.Exit(1)


def _state_json(state) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from google.protobuf import json_format

    return json_format.MessageToDict(
        state, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _wait(stub, session_id: str, output: _Output, *, unbounded: bool = False):  # type: ignore[no-untyped-def]
    """Poll until the session completes; Ctrl-C stops a live clip (and keeps waiting).

    The first Ctrl-C of an unbounded clip only sets a flag the loop reads: a
    KeyboardInterrupt raised inside a gRPC call or the progress bar's lock could
    leave either stuck. A second one (or any for a bounded export) interrupts.
    """
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    interrupted = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if unbounded and not interrupted.is_set():
            interrupted.set()
            return
        raise KeyboardInterrupt

    stopped = False
    columns = (
        [TextColumn("[bold]recording"), TextColumn("{task.fields[recorded]}")]
        if unbounded
        else [TextColumn("[bold]exporting"), BarColumn(),
              TextColumn("{task.percentage:>3.0f}%")]
    )  # fmt: skip
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("export", total=1.0, recorded="")
            started = time.monotonic()
            while True:
                if interrupted.is_set() and not stopped:
                    stopped = True
                    output.say(f"stopping session {session_id}; the clip so far is kept")
                    try:
                        stub.StopSession(spb.StopSessionRequest(session_id=session_id))
                    except grpc.RpcError as error:
                        output.rpc_failed(error)
                try:
                    reply = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
                except grpc.RpcError as error:
                    output.rpc_failed(error)
                state = reply.session_state
                progress.update(
                    task,
                    completed=state.progress,
                    recorded=f"{time.monotonic() - started:.0f} s, Ctrl-C to stop",
                )
                if state.state >= spb.S_COMPLETED:
                    return state
                interrupted.wait(0.5)
    finally:
        signal.signal(signal.SIGINT, previous)


def _print_state(session_id: str, state, output: _Output) -> None:  # type: ignore[no-untyped-def]
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    name = spb.EState.Name(state.state)
    verdict = ""
    if state.state >= spb.S_COMPLETED:
        verdict = " [green]succeeded[/green]" if state.result.succeeded else " [red]failed[/red]"
    output.say(f"session {session_id}: {name}{verdict} progress {state.progress:.0%}")
    if state.error:
        output.say(f"  reason: {escape(state.error)}")
    for file in state.result.files:
        output.say(
            f"  {escape(file.path)}  {file.size} bytes  {file.mime_type}  "
            f"{file.min_timestamp} .. {file.max_timestamp}"
            + (f"  {escape(file.cloud_id)}" if file.cloud_id else "")
        )


class _DownloadRefused(Exception):
    """A file not written: it would overwrite another, or its bytes do not match."""


def _compact(timestamp: str) -> str:
    return timestamp.split(".", 1)[0] or "unknown"


def session_folder(files, session_id: str) -> str:  # type: ignore[no-untyped-def]
    """The folder a session's files are saved in: its first file's name, time range and id.

    ``export_demo-camera1_001.mp4`` … of session ``1f0c…`` from 12:00:00 to 12:00:10
    go to ``export_demo-camera1_001_20260101T120000-20260101T120010_1f0c2a9b/``. Inside,
    every file keeps the server's name: the names the signed manifest lists, so
    ``vexport verify`` checks the folder as it was downloaded.
    """
    listed = list(files)
    stem = Path(listed[0].path).stem.removesuffix(".manifest") if listed else "export"
    firsts = [f.min_timestamp for f in listed if f.min_timestamp]
    lasts = [f.max_timestamp for f in listed if f.max_timestamp]
    first = _compact(min(firsts)) if firsts else "unknown"
    last = _compact(max(lasts)) if lasts else first
    span = first if first == last else f"{first}-{last}"
    short = re.sub(r"[^A-Za-z0-9-]", "", session_id)[:8] or "session"
    return f"{stem}_{span}_{short}"


def local_name(file, session_id: str, files=None) -> str:  # type: ignore[no-untyped-def]
    """Where ``file`` of the session is saved, relative to ``--out``: unique per session."""
    return f"{session_folder(files if files is not None else [file], session_id)}/" + (
        Path(file.path).name
    )


def _download(  # type: ignore[no-untyped-def]
    stub, session_id: str, file, out: Path, output: _Output, *, force: bool,
    chunk_kb: int = CHUNK_KB, files=None,
) -> Path:  # fmt: skip
    """Fetch ``file`` into ``out``, resuming a ``.part``, checked against its SHA-256."""
    from vexport.results.base import sha256_of

    target = out / local_name(file, session_id, files)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        if file.sha256 and sha256_of(target) == file.sha256:
            output.say(f"{target} is already downloaded")
            return target
        if not force:
            raise _DownloadRefused(f"{target} exists with other content; --force overwrites it")
    partial = target.with_name(target.name + ".part")
    chunk = chunk_kb * 1024
    resume = True
    while True:
        done = partial.stat().st_size if resume and partial.exists() else 0
        first_chunk = done // chunk
        if file.size and first_chunk * chunk >= file.size:
            first_chunk = 0  # longer than the file: not a prefix of it
        _fetch(stub, session_id, file, partial, first_chunk, chunk_kb, output)
        if not file.sha256 or sha256_of(partial) == file.sha256:
            break
        if first_chunk > 0:
            output.say(
                f"[yellow]{partial.name} did not match the session's SHA-256 after resuming "
                "(a partial file of another download?); downloading the whole file again[/yellow]"
            )
            partial.unlink()
            resume = False
            continue
        partial.unlink()
        raise _DownloadRefused(f"{file.path}: the downloaded bytes do not match its SHA-256")
    partial.replace(target)
    output.say(f"saved {target}")
    return target


def _fetch(stub, session_id: str, file, partial: Path, first_chunk: int, chunk_kb: int,  # type: ignore[no-untyped-def]
           output: _Output) -> None:  # fmt: skip
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    mode = "r+b" if partial.exists() else "wb"
    with open(partial, mode) as handle, Progress(
        TextColumn(f"[bold]{escape(Path(file.path).name)}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=console, transient=True,
    ) as progress:  # fmt: skip
        handle.seek(first_chunk * chunk_kb * 1024)
        handle.truncate()
        task = progress.add_task("download", total=file.size, completed=handle.tell())
        request = spb.DownloadFileRequest(
            session_id=session_id,
            file_path=file.path,
            chunk_size_kb=chunk_kb,
            start_from_chunk_index=first_chunk,
        )
        try:
            for piece in stub.DownloadFile(request):
                handle.write(piece.data)
                progress.update(task, advance=len(piece.data))
        except grpc.RpcError as error:
            output.rpc_failed(error)


def session_summary(info) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """What ``client list`` shows of a session: origin, kind, time range, state, size."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    options = info.session.options
    mode = options.WhichOneof("mode") or ""
    output_type = options.WhichOneof("output_type")
    kind = f"{mode}_{'snapshot' if output_type == 'snapshot' else 'clip'}" if mode else ""
    origins: list[str] = []
    begin = finish = ""
    if mode == "archive":
        origins = [source.origin for source in options.archive.sources]
        begin = options.archive.start_timestamp
        finish = options.archive.end_timestamp
    elif mode == "live":
        origins = [source.origin for source in options.live.sources]
        if options.live.HasField("duration"):
            finish = f"+{options.live.duration.ToTimedelta().total_seconds():g}s"
        elif output_type != "snapshot":
            finish = "until stopped"
    state = info.state
    return {
        "session_id": info.session.id,
        "origin": ", ".join(origins),
        "kind": kind,
        "from": begin or (_compact(state.result.files[0].min_timestamp)
                          if state.result.files else ""),
        "to": finish,
        "state": spb.EState.Name(state.state),
        "succeeded": state.result.succeeded if state.state >= spb.S_COMPLETED else None,
        "progress": round(state.progress, 4),
        "files": len(state.result.files),
        "size": sum(file.size for file in state.result.files),
        "error": state.error,
    }  # fmt: skip


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


@client_app.command("list")
def client_list(
    page_size: Annotated[int, typer.Option(help="Sessions per page.")] = 50,
    as_json: JsonOption = False,
    server: ServerOption = "127.0.0.1:50051",
) -> None:
    """List sessions, newest first: origin, kind, time range, state, progress and size."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    output = _Output(as_json)
    stub = _stub(server)
    rows: list[dict[str, object]] = []
    token = ""
    while True:
        try:
            replies = list(
                stub.ListSessions(spb.ListSessionsRequest(page_token=token, page_size=page_size))
            )
        except grpc.RpcError as error:
            output.rpc_failed(error)
        rows += [session_summary(info) for reply in replies for info in reply.sessions]
        token = replies[-1].next_page_token if replies else ""
        if not token:
            break
    if as_json:
        output.answer(rows)
        return
    table = Table("session", "origin", "kind", "from", "to", "state", "progress", "size")
    for row in rows:
        verdict = {True: " ok", False: " failed", None: ""}[row["succeeded"]]  # type: ignore[index]
        table.add_row(
            str(row["session_id"]), escape(str(row["origin"])), str(row["kind"]),
            str(row["from"]), str(row["to"]), f"{row['state']}{verdict}",
            f"{float(row['progress']):.0%}",  # type: ignore[arg-type]
            _human_size(int(row["size"])),  # type: ignore[call-overload]
        )  # fmt: skip
    Console().print(table)


@client_app.command("state")
def client_state(
    session_id: str, as_json: JsonOption = False, server: ServerOption = "127.0.0.1:50051"
) -> None:
    """Show a session's state and files."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    output = _Output(as_json)
    try:
        reply = _stub(server).GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
    except grpc.RpcError as error:
        output.rpc_failed(error)
    _print_state(session_id, reply.session_state, output)
    output.answer({"session_id": session_id, "state": _state_json(reply.session_state)})


@client_app.command("stop")
def client_stop(
    session_id: str, as_json: JsonOption = False, server: ServerOption = "127.0.0.1:50051"
) -> None:
    """Stop a session; what was exported so far is kept."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    output = _Output(as_json)
    try:
        reply = _stub(server).StopSession(spb.StopSessionRequest(session_id=session_id))
    except grpc.RpcError as error:
        output.rpc_failed(error)
    _print_state(session_id, reply.session_state, output)
    output.answer({"session_id": session_id, "state": _state_json(reply.session_state)})


@client_app.command("destroy")
def client_destroy(
    session_id: str, as_json: JsonOption = False, server: ServerOption = "127.0.0.1:50051"
) -> None:
    """Stop a session if needed and delete its files."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    output = _Output(as_json)
    try:
        _stub(server).DestroySession(spb.DestroySessionRequest(session_id=session_id))
    except grpc.RpcError as error:
        output.rpc_failed(error)
    output.say(f"session {session_id} destroyed")
    output.answer({"session_id": session_id, "destroyed": True})


@client_app.command("download")
def client_download(
    session_id: str,
    out: Annotated[Path, typer.Option("--out", help="Directory for the files.")] = Path("."),
    file: Annotated[str | None, typer.Option("--file", help="Only this file (its path).")] = None,
    force: ForceOption = False,
    chunk_kb: Annotated[
        int, typer.Option(help="DownloadFile chunk size in KiB.", min=1, max=3072, hidden=True)
    ] = CHUNK_KB,
    as_json: JsonOption = False,
    server: ServerOption = "127.0.0.1:50051",
) -> None:
    """Download a completed session's files (resumes partial downloads, checks SHA-256)."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    output = _Output(as_json)
    stub = _stub(server)
    try:
        reply = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
    except grpc.RpcError as error:
        output.rpc_failed(error)
    files = [f for f in reply.session_state.result.files if file is None or f.path == file]
    if not files:
        output.fail("NOT_FOUND", "no such file in this session")
    saved: list[dict[str, object]] = []
    problem = None
    for item in files:
        try:
            path = _download(
                stub, session_id, item, out, output, force=force, chunk_kb=chunk_kb,
                files=reply.session_state.result.files,
            )  # fmt: skip
        except _DownloadRefused as refused:
            problem = str(refused)
            output.say(f"[red]{escape(problem)}[/red]")
            continue
        saved.append({"path": item.path, "saved_to": str(path), "sha256": item.sha256})
    output.answer({"session_id": session_id, "saved": saved, "error": problem})
    if problem is not None:
        raise typer.Exit(1)
