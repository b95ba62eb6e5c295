"""TLS for both APIs from certificate files, reloaded without a restart; optional mTLS.

One ``ServerTls`` reads ``[tls]`` cert/key (and the client CA, which turns on
client-certificate checks) and is checked every ``reload_interval`` by the
app's timer (``check``, from a thread: it stats and reads files). When the
files change and still make a valid pair, new connections get the new
certificate; connections already open keep theirs. A broken new pair is
logged and the old one kept, so a half-copied renewal never takes the
service down.

- gRPC: dynamic server credentials; gRPC asks the fetcher at each handshake,
  which answers from memory (no I/O on gRPC's threads).
- HTTP: one ``SSLContext`` handed to uvicorn whose SNI callback switches each
  new connection to the newest context.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

import grpc

from vexport.config import TlsConfig

__all__ = ["ServerTls"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Material:
    cert: bytes
    key: bytes
    client_ca: bytes | None
    stamp: tuple[tuple[int, int], ...]


class ServerTls:
    def __init__(self, config: TlsConfig) -> None:
        assert config.cert_file is not None and config.key_file is not None
        self.config = config
        self._paths: tuple[Path, ...] = tuple(
            p for p in (config.cert_file, config.key_file, config.client_ca_file) if p is not None
        )
        self._lock = threading.Lock()
        material = self._read()
        self._context = self._http_context(material)  # raises for a bad pair at start
        self._material = material
        self.generation = 1
        self._grpc_generation = 1

    @property
    def mutual(self) -> bool:
        return self.config.client_ca_file is not None

    # -- reloading ----------------------------------------------------------------

    def check(self) -> bool:
        """Reload the files if they changed; True if new connections now get new ones."""
        try:
            if self._stamp() == self._material.stamp:
                return False
            material = self._read()
            context = self._http_context(material)
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning("TLS files changed but cannot be used (%s); keeping the old ones",
                        type(exc).__name__)  # fmt: skip
            return False
        with self._lock:
            self._material = material
            self._context = context
            self.generation += 1
        log.info("TLS certificate reloaded from %s", self.config.cert_file)
        return True

    def _stamp(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for path in self._paths:
            stat = path.stat()
            stamps.append((stat.st_mtime_ns, stat.st_size))
        return tuple(stamps)

    def _read(self) -> _Material:
        stamp = self._stamp()
        config = self.config
        assert config.cert_file is not None and config.key_file is not None
        return _Material(
            cert=config.cert_file.read_bytes(),
            key=config.key_file.read_bytes(),
            client_ca=config.client_ca_file.read_bytes() if config.client_ca_file else None,
            stamp=stamp,
        )

    # -- gRPC ---------------------------------------------------------------------

    def grpc_credentials(self) -> grpc.ServerCredentials:
        material = self._material
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_configuration(material),
            self._fetch_grpc,
            require_client_authentication=material.client_ca is not None,
        )

    def _fetch_grpc(self) -> object | None:
        """gRPC's question at each handshake: a new configuration, or None (unchanged)."""
        with self._lock:
            if self._grpc_generation == self.generation:
                return None
            self._grpc_generation = self.generation
            material = self._material
        return self._grpc_configuration(material)

    @staticmethod
    def _grpc_configuration(material: _Material) -> object:
        return grpc.ssl_server_certificate_configuration(
            [(material.key, material.cert)], root_certificates=material.client_ca
        )

    # -- HTTP ---------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """The context for uvicorn: each new connection switches to the newest one."""
        base = self._http_context(self._material)
        base.sni_callback = self._switch
        return base

    def _switch(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: object
    ) -> None:
        connection.context = self._context

    def _http_context(self, material: _Material) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        # The ssl module loads a chain from files only: the files just read (a renewal
        # landing in between is picked up by the next check).
        config = self.config
        assert config.cert_file is not None and config.key_file is not None
        context.load_cert_chain(config.cert_file, config.key_file)
        if material.client_ca is not None:
            context.load_verify_locations(cadata=material.client_ca.decode())
            context.verify_mode = ssl.CERT_REQUIRED
        return context
