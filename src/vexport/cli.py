"""The ``vexport`` command: serve, demo, and a client for the export API."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from vexport.config import load_settings
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


# -- server ------------------------------------------------------------------


@app.command()
def serve(
    config: ConfigOption = None,
    demo: Annotated[
        bool | None, typer.Option("--demo/--no-demo", help="Add the synthetic demo camera.")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run the export service (gRPC). Without a config file: embedded defaults and a demo camera."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides: dict[str, object] = {}
    if demo is not None:
        overrides["demo"] = {"enabled": demo}
    settings = load_settings(config, **overrides)
    from vexport.jobs.node import NodeInUse

    try:
        asyncio.run(_serve(settings))
    except NodeInUse as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


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
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Run an export agent's worker (scaled out: [jobs] executor = "celery")."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(config)
    if access_point not in [a.access_point for a in settings.agents]:
        console.print(f"[red]no [[agents]] entry {access_point!r} in the configuration[/red]")
        raise typer.Exit(2)
    from vexport.agent import run_agent
    from vexport.jobs.node import NodeInUse

    try:
        run_agent(settings, access_point, node=node, log_level=log_level.upper())
    except NodeInUse as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Bring the job database to the current schema (every process also does at start)."""
    from sqlalchemy import create_engine

    from vexport.jobs.migrate import upgrade

    settings = load_settings(config)
    engine = create_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    console.print("the job database is up to date")


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
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Serve with the synthetic demo camera (live test pattern and a recorded HLS archive)."""
    serve(config=config, demo=True, log_level=log_level)


async def _serve(settings: object) -> None:
    from vexport.app import App  # imported here so client commands start fast
    from vexport.config import Settings

    assert isinstance(settings, Settings)
    application = App(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await application.start()
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


def _stub(server: str):  # type: ignore[no-untyped-def]
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2_grpc as spb_grpc

    channel = grpc.insecure_channel(server, options=[("grpc.max_receive_message_length", 8 << 20)])
    return spb_grpc.ExportServiceStub(channel)


def _parse_when(text: str) -> datetime:
    """Absolute timestamps, ``now``, or relative ones like ``-30s`` / ``-2m``."""
    if text == "now":
        return utcnow()
    if text.startswith("-"):
        return utcnow() - parse_duration(text[1:])
    try:
        return parse_timestamp(text)
    except TimestampError as exc:
        raise typer.BadParameter(str(exc)) from None


def _fail(error: grpc.RpcError) -> None:
    console.print(f"[red]{error.code().name}[/red]: {error.details()}")
    raise typer.Exit(1)


_STREAM_FORMATS = {"mp4": 4, "mkv": 1, "avi": 2, "ts": 1000, "mov": 1001}
_SNAPSHOT_FORMATS = {"jpeg": 1, "jpg": 1, "png": 1000}


@client_app.command("start")
def client_start(
    origin: Annotated[list[str], typer.Option("--origin", "-o", help="Origin(s) to export.")],
    start: Annotated[str | None, typer.Option("--from", help="Start: timestamp, or -30s.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="End: timestamp, now, or -5s.")] = None,
    last: Annotated[
        str | None,
        typer.Option("--last", help="Archive clip of the last N (10s), ending 2s ago."),
    ] = None,
    live: Annotated[bool, typer.Option("--live", help="Export live video.")] = False,
    duration: Annotated[
        str | None, typer.Option("--duration", help="Live clip length (e.g. 10s).")
    ] = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="A single frame.")] = False,
    fmt: Annotated[
        str | None, typer.Option("--format", "-f", help="mp4 mkv ts avi mov | jpeg png")
    ] = None,
    max_file_size: Annotated[int, typer.Option(help="Split into files of <= N bytes.")] = 0,
    agent: Annotated[str, typer.Option(help="Export agent access point.")] = "",
    storage: Annotated[str | None, typer.Option(help="Archive storage to read.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the result.")] = True,
    out: Annotated[
        Path | None, typer.Option("--out", help="Download the files into this directory.")
    ] = None,
    cloud_export: Annotated[
        bool, typer.Option("--cloud-export", help="Also upload the files to the S3 result store.")
    ] = False,
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
    from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    options = pb.Options(
        max_file_size=max_file_size, export_agent_access_point=agent, cloud_export=cloud_export
    )
    if live:
        for name in origin:
            options.live.sources.add(origin=name)
        if duration and not snapshot:
            options.live.duration.FromTimedelta(parse_duration(duration))
    else:
        if last:
            end_at = utcnow() - parse_duration("2s")
            start_at = end_at - parse_duration(last)
        else:
            if start is None:
                raise typer.BadParameter("give --from (and --to for a clip), or --last")
            start_at = _parse_when(start)
            end_at = _parse_when(end) if end else start_at
        options.archive.start_timestamp = format_timestamp(start_at)
        if not snapshot:
            options.archive.end_timestamp = format_timestamp(end_at)
        for name in origin:
            source = options.archive.sources.add(origin=name)
            if storage:
                source.storages.append(storage)
    name = (fmt or ("jpeg" if snapshot else "mp4")).lower()
    if snapshot:
        if name not in _SNAPSHOT_FORMATS:
            raise typer.BadParameter(f"snapshot formats: {', '.join(_SNAPSHOT_FORMATS)}")
        options.snapshot.format = _SNAPSHOT_FORMATS[name]  # type: ignore[assignment]
    else:
        if name not in _STREAM_FORMATS:
            raise typer.BadParameter(f"clip formats: {', '.join(_STREAM_FORMATS)}")
        options.stream.format = _STREAM_FORMATS[name]  # type: ignore[assignment]
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
        _fail(error)
    session_id = reply.started_session_id
    print(session_id)
    if not wait:
        return
    state = _wait(stub, session_id)
    _print_state(session_id, state)
    if out is not None and state.result.succeeded:
        for file in state.result.files:
            _download(stub, session_id, file.path, file.size, out)
    if not state.result.succeeded:
        raise typer.Exit(1)


def _wait(stub, session_id: str):  # type: ignore[no-untyped-def]
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    with Progress(
        TextColumn("[bold]exporting"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("export", total=1.0)
        while True:
            try:
                reply = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
            except grpc.RpcError as error:
                _fail(error)
            state = reply.session_state
            progress.update(task, completed=state.progress)
            if state.state >= spb.S_COMPLETED:
                return state
            time.sleep(0.5)


def _print_state(session_id: str, state) -> None:  # type: ignore[no-untyped-def]
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    name = spb.EState.Name(state.state)
    verdict = ""
    if state.state >= spb.S_COMPLETED:
        verdict = " [green]succeeded[/green]" if state.result.succeeded else " [red]failed[/red]"
    console.print(f"session {session_id}: {name}{verdict} progress {state.progress:.0%}")
    if state.error:
        console.print(f"  reason: {state.error}")
    for file in state.result.files:
        console.print(
            f"  {file.path}  {file.size} bytes  {file.mime_type}  "
            f"{file.min_timestamp} .. {file.max_timestamp}"
            + (f"  {file.cloud_id}" if file.cloud_id else "")
        )


def _download(stub, session_id: str, file_path: str, size: int, out: Path) -> Path:  # type: ignore[no-untyped-def]
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    out.mkdir(parents=True, exist_ok=True)
    target = out / Path(file_path).name
    partial = target.with_name(target.name + ".part")
    chunk_kb = 1024
    # Resume a partial download at a chunk boundary.
    done = partial.stat().st_size if partial.exists() else 0
    first_chunk = done // (chunk_kb * 1024)
    with open(partial, "r+b" if partial.exists() else "wb") as handle, Progress(
        TextColumn(f"[bold]{target.name}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        handle.seek(first_chunk * chunk_kb * 1024)
        handle.truncate()
        task = progress.add_task("download", total=size, completed=handle.tell())
        request = spb.DownloadFileRequest(
            session_id=session_id,
            file_path=file_path,
            chunk_size_kb=chunk_kb,
            start_from_chunk_index=first_chunk,
        )
        try:
            for chunk in stub.DownloadFile(request):
                handle.write(chunk.data)
                progress.update(task, advance=len(chunk.data))
        except grpc.RpcError as error:
            _fail(error)
    partial.replace(target)
    console.print(f"saved {target}")
    return target


@client_app.command("list")
def client_list(
    page_size: Annotated[int, typer.Option(help="Sessions per page.")] = 50,
    server: ServerOption = "127.0.0.1:50051",
) -> None:
    """List sessions, newest first."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    stub = _stub(server)
    table = Table("session", "state", "ok", "progress", "files")
    token = ""
    while True:
        try:
            replies = list(
                stub.ListSessions(spb.ListSessionsRequest(page_token=token, page_size=page_size))
            )
        except grpc.RpcError as error:
            _fail(error)
        for reply in replies:
            for info in reply.sessions:
                state = info.state
                table.add_row(
                    info.session.id,
                    spb.EState.Name(state.state),
                    "yes" if state.result.succeeded else ("no" if state.state >= 2 else ""),
                    f"{state.progress:.0%}",
                    str(len(state.result.files)),
                )
        token = replies[-1].next_page_token if replies else ""
        if not token:
            break
    Console().print(table)


@client_app.command("state")
def client_state(session_id: str, server: ServerOption = "127.0.0.1:50051") -> None:
    """Show a session's state and files."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    try:
        reply = _stub(server).GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
    except grpc.RpcError as error:
        _fail(error)
    _print_state(session_id, reply.session_state)


@client_app.command("stop")
def client_stop(session_id: str, server: ServerOption = "127.0.0.1:50051") -> None:
    """Stop a session; what was exported so far is kept."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    try:
        reply = _stub(server).StopSession(spb.StopSessionRequest(session_id=session_id))
    except grpc.RpcError as error:
        _fail(error)
    _print_state(session_id, reply.session_state)


@client_app.command("destroy")
def client_destroy(session_id: str, server: ServerOption = "127.0.0.1:50051") -> None:
    """Stop a session if needed and delete its files."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    try:
        _stub(server).DestroySession(spb.DestroySessionRequest(session_id=session_id))
    except grpc.RpcError as error:
        _fail(error)
    console.print(f"session {session_id} destroyed")


@client_app.command("download")
def client_download(
    session_id: str,
    out: Annotated[Path, typer.Option("--out", help="Directory for the files.")] = Path("."),
    file: Annotated[str | None, typer.Option("--file", help="Only this file (its path).")] = None,
    server: ServerOption = "127.0.0.1:50051",
) -> None:
    """Download a completed session's files (resumes partial downloads)."""
    from vexport.protos.axxonsoft.bl.mmexport import ExportService_pb2 as spb

    stub = _stub(server)
    try:
        reply = stub.GetSessionState(spb.GetSessionStateRequest(session_id=session_id))
    except grpc.RpcError as error:
        _fail(error)
    files = [f for f in reply.session_state.result.files if file is None or f.path == file]
    if not files:
        console.print("[red]no such file in this session[/red]")
        raise typer.Exit(1)
    for item in files:
        _download(stub, session_id, item.path, item.size, out)
