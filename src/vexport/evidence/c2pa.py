"""C2PA content credentials in the exported files (``c2pa-python``).

A C2PA manifest inside the file says, in a form any C2PA reader checks, what
the file came from (the recorded archive, as its ingredient) and what was
done (the actions), signed with the configured X.509 chain. MP4, MOV, AVI,
JPEG, PNG and PDF carry it inside; Matroska and MPEG-TS files get a sidecar
``<file>.c2pa``: a manifest store bound to the file's bytes by a data hash
(docs/design/evidence.md).

Actions, from what the export really did (the decision, the files' own
report): ``c2pa.opened`` (the archive or live stream), ``c2pa.converted``
(packets copied into a new container), ``c2pa.transcoded`` (re-encoded: the
whole file, or the frames a smart cut re-encoded, named), ``c2pa.cropped``,
``c2pa.edited`` for masks (described as redacted, with the vexport action
``org.vexport.redacted``: C2PA's own ``c2pa.redacted`` means an assertion
removed from an ingredient's manifest, not pixels) and for burnt-in text,
and ``c2pa.placed`` for a frame set on a PDF page.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

from vexport import __version__
from vexport.evidence.keys import SigningKey
from vexport.media.decision import VideoPath
from vexport.media.plan import ContainerFormat, ExportPlan, ProducedFile, SourcePlan

__all__ = [
    "EMBEDDED",
    "SIDECAR",
    "SIDECAR_MIME",
    "SIDECAR_SUFFIX",
    "ContentCredentials",
    "describe",
    "read_credentials",
]

log = logging.getLogger(__name__)

EMBEDDED: dict[str, str] = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".avi": "video/x-msvideo",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".pdf": "application/pdf",
}
"""Files that carry a C2PA manifest inside, by extension, with their MIME types."""

SIDECAR: dict[str, str] = {".mkv": "video/x-matroska", ".ts": "video/mp2t"}
"""Files whose manifest is a sidecar ``<file>.c2pa``, bound to their bytes by a data hash."""

SIDECAR_SUFFIX = ".c2pa"
SIDECAR_MIME = "application/c2pa"

_ARCHIVE = "archive"
_FRAME = "frame"


class ContentCredentials:
    """Embeds a signed C2PA manifest into each file that can hold one, in place."""

    def __init__(self, key: SigningKey, tsa_url: str | None = None) -> None:
        if not key.chain_pem:
            raise ValueError("C2PA needs a certificate chain")
        self._key = key
        self._tsa_url = tsa_url

    def embed(self, plan: ExportPlan, produced: ProducedFile) -> Path | None:
        """Sign ``produced``: in place when its format holds a manifest (None), else as a
        sidecar ``<file>.c2pa`` beside it (its path); None also when neither is possible."""
        import c2pa

        suffix = produced.path.suffix.lower()
        mime = EMBEDDED.get(suffix) or SIDECAR.get(suffix)
        if mime is None:
            return None
        source = next((s for s in plan.sources if s.origin == produced.origin), None)
        definition = _definition(plan, source, produced, mime)
        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ED25519,
            self._key.chain_pem,
            self._key.private_pem,
            self._tsa_url.encode() if self._tsa_url else None,
        )
        if suffix in SIDECAR:
            sidecar = produced.path.with_name(produced.path.name + SIDECAR_SUFFIX)
            with c2pa.Signer.from_info(info) as signer, c2pa.Builder(definition) as builder:
                sidecar.write_bytes(_data_hashed(builder, signer, produced.path))
            sidecar.chmod(0o600)
            return sidecar
        signed = produced.path.with_name(produced.path.name + ".c2pa-tmp")
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder(definition) as builder,
            open(produced.path, "rb") as source_file,
            open(signed, "w+b") as out,
        ):
            builder.sign(signer, mime, source_file, out)
        os.replace(signed, produced.path)
        return None


def _data_hashed(builder: Any, signer: Any, path: Path) -> bytes:
    """A manifest store bound to the whole file by a data hash (``c2pa.hash.data``).

    c2pa-python 0.38 wraps no data-hashed signing, the way to bind a format it
    cannot parse, but its native library exports it
    (``c2pa_builder_data_hashed_placeholder``, then
    ``c2pa_builder_sign_data_hashed_embeddable``, which hashes the stream); it is
    called here through the binding's own handles (pinned to 0.38.x in
    pyproject.toml, since these are not its public API).
    """
    import ctypes

    from c2pa import c2pa as core

    lib = core._lib
    uchar_p = ctypes.POINTER(ctypes.c_ubyte)
    lib.c2pa_builder_data_hashed_placeholder.argtypes = [
        ctypes.POINTER(core.C2paBuilder), ctypes.c_size_t, ctypes.c_char_p,
        ctypes.POINTER(uchar_p),
    ]  # fmt: skip
    lib.c2pa_builder_data_hashed_placeholder.restype = ctypes.c_int64
    lib.c2pa_builder_sign_data_hashed_embeddable.argtypes = [
        ctypes.POINTER(core.C2paBuilder), ctypes.POINTER(core.C2paSigner), ctypes.c_char_p,
        ctypes.c_char_p, ctypes.POINTER(core.C2paStream), ctypes.POINTER(uchar_p),
    ]  # fmt: skip
    lib.c2pa_builder_sign_data_hashed_embeddable.restype = ctypes.c_int64
    placeholder = uchar_p()
    size = lib.c2pa_builder_data_hashed_placeholder(
        builder._handle, 0, b"application/c2pa", ctypes.byref(placeholder)
    )
    if size < 0:
        raise core.C2paError(_last_error(lib))
    lib.c2pa_free(placeholder)
    data_hash = json.dumps(
        {"exclusions": [], "name": "jumbf manifest", "alg": "sha256", "hash": [], "pad": []}
    ).encode()
    store = uchar_p()
    with open(path, "rb") as asset, core.Stream(asset) as stream:
        size = lib.c2pa_builder_sign_data_hashed_embeddable(
            builder._handle,
            signer._handle,
            data_hash,
            b"application/c2pa",
            stream._stream,
            ctypes.byref(store),
        )
    if size < 0:
        raise core.C2paError(_last_error(lib))
    try:
        return ctypes.string_at(store, size)
    finally:
        lib.c2pa_free(store)


def _last_error(lib: Any) -> str:
    import ctypes

    pointer = lib.c2pa_error()
    return ctypes.string_at(pointer).decode("utf-8", "replace") if pointer else "C2PA failed"


def _definition(
    plan: ExportPlan, source: SourcePlan | None, produced: ProducedFile, mime: str
) -> dict[str, Any]:
    ingredients = [_ingredient(plan, source)]
    actions: list[dict[str, Any]] = [
        {
            "action": "c2pa.opened",
            "softwareAgent": {"name": "vexport", "version": __version__},
            "parameters": {"ingredientIds": [_ARCHIVE]},
            "description": f"read from {'the live stream' if plan.kind.is_live else 'the archive'}"
            f" of {produced.origin}",
        }
    ]
    processing = produced.processing
    decision = source.decision if source else None
    still = not plan.kind.is_clip
    if still:
        actions.append(
            {
                "action": "c2pa.transcoded",
                "description": "the frame shown at the asked time, decoded and encoded"
                f" as {plan.container.value.upper()}",
            }
        )
    elif processing.startswith("re-encoded") or (
        decision is not None and decision.video is VideoPath.REENCODE
    ):
        actions.append({"action": "c2pa.transcoded", "description": processing or "re-encoded"})
    else:
        actions.append(
            {
                "action": "c2pa.converted",
                "description": "the recorded packets copied into a new container",
            }
        )
        if produced.frames_reencoded:
            ranges = ", ".join(f"{a}..{b}" for a, b in produced.reencoded_frame_runs())
            actions.append(
                {
                    "action": "c2pa.transcoded",
                    "description": f"{processing}: frames {ranges} re-encoded at the"
                    " cuts, the rest copied",
                }
            )
    privacy = source.privacy if source else None
    if privacy is not None and privacy.crop is not None:
        actions.append({"action": "c2pa.cropped", "description": "crop area"})
    if privacy is not None and privacy.masks:
        what = f"redacted: {len(privacy.masks)} privacy mask(s), {privacy.fill} fill"
        if privacy.invert:
            what += ", outside the masks"
        actions.append({"action": "c2pa.edited", "description": what})
        actions.append({"action": "org.vexport.redacted", "description": what})
    text = source.text if source else None
    if text is not None and text.burns_pixels and plan.container is not ContainerFormat.PDF:
        actions.append({"action": "c2pa.edited", "description": "text burnt into the picture"})
    if plan.container is ContainerFormat.PDF:
        ingredients.append(
            {
                "title": f"{produced.origin} frame",
                "format": "image/png",
                "relationship": "componentOf",
                "label": _FRAME,
            }
        )
        actions.append(
            {
                "action": "c2pa.placed",
                "parameters": {"ingredientIds": [_FRAME]},
                "description": "the frame placed on a PDF page with its time",
            }
        )
    return {
        "claim_generator_info": [{"name": "vexport", "version": __version__}],
        "title": produced.path.name,
        "format": mime,
        "ingredients": ingredients,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": actions}}],
    }


def _ingredient(plan: ExportPlan, source: SourcePlan | None) -> dict[str, Any]:
    url = (source.archive_url or "") if source else ""
    name = url.rsplit("/", 1)[-1].split("?", 1)[0] if url else ""
    if plan.kind.is_live or not name:
        return {
            "title": source.origin if source else "live stream",
            "format": "video/mp2t",
            "relationship": "parentOf",
            "label": _ARCHIVE,
        }
    formats = {"m3u8": "application/vnd.apple.mpegurl", "mpd": "application/dash+xml"}
    return {
        "title": f"{source.origin if source else ''} {name}".strip(),
        "format": formats.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream"),
        "relationship": "parentOf",
        "label": _ARCHIVE,
        "description": f"the recorded archive of {source.origin if source else ''}"
        f" (storage {source.storage if source else ''})",
    }


def read_credentials(
    name: str, source: bytes | Path, trust: bytes | None, sidecar: bytes | None = None
) -> dict[str, Any] | None:
    """The file's C2PA state and actions (``sidecar``: its ``.c2pa`` manifest store, for
    the formats that cannot hold one), or None if it carries none."""
    import c2pa

    suffix = Path(name).suffix.lower()
    mime = EMBEDDED.get(suffix)
    if mime is None and sidecar is not None:
        mime = SIDECAR.get(suffix)
    if mime is None:
        return None
    settings: dict[str, Any] = {"verify": {"verify_trust": trust is not None}}
    if trust is not None:
        settings["trust"] = {"trust_anchors": trust.decode("ascii")}
    try:
        with (
            c2pa.Context(c2pa.Settings.from_dict(settings)) as context,
            _stream(source) as stream,
            c2pa.Reader(mime, stream, manifest_data=sidecar, context=context) as reader,
        ):
            state = reader.get_validation_state() or ""
            results = reader.get_validation_results() or {}
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in str(exc):
            return None
        return {"state": "Invalid", "failures": [str(exc)], "actions": []}
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    actions = [
        a.get("action", "")
        for assertion in active.get("assertions", [])
        if str(assertion.get("label", "")).startswith("c2pa.actions")
        for a in assertion.get("data", {}).get("actions", [])
    ]
    failures = [f.get("code", "") for f in results.get("activeManifest", {}).get("failure", [])]
    return {"state": state, "failures": failures, "actions": actions}


def _stream(source: bytes | Path) -> BinaryIO:
    return open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)


def describe(
    name: str, source: bytes | Path, trust: bytes | None, sidecar: bytes | None = None
) -> str:
    """A line for ``vexport verify``: the credentials' state and actions ("" if none)."""
    found = read_credentials(name, source, trust, sidecar)
    if found is None:
        return ""
    failures = [f for f in found["failures"] if trust is not None or "untrusted" not in f]
    if failures:
        return "invalid (" + ", ".join(failures) + ")"
    state = "trusted" if found["state"] == "Trusted" else "valid"
    if trust is None:
        state += " (signer not checked: give --c2pa-trust)"
    return f"{state}; actions {', '.join(found['actions'])}"
