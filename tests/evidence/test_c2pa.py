"""C2PA content credentials: signed with a test CA's chain, validated by c2pa-python's Reader."""

from __future__ import annotations

import datetime
import json
from datetime import timedelta
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from tests import corpus
from tests.api.conftest import ARCHIVE_START, CAMERA, STORAGE
from tests.api.harness import (
    download,
    make_settings,
    running_server,
    start_session,
    wait_completed,
)
from tests.api.options import archive_clip
from tests.evidence.conftest import signed_export
from tests.media_fixtures import make_hls_archive
from vexport.cli import app
from vexport.config import EvidenceConfig
from vexport.evidence.c2pa import ContentCredentials, read_credentials
from vexport.evidence.signer import Signer, load_signer
from vexport.media.plan import ContainerFormat
from vexport.media.privacy import Privacy
from vexport.media.rendering import Quality, Rendering, VideoCodec, VideoEncoding
from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vexport tests"),
        ]
    )


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(CA certificate, signing key, chain): what C2PA asks of a claim signer's certificate:
    an end-entity certificate (not self-signed) with digitalSignature and an allowed
    extended key usage (emailProtection), issued by a CA with keyCertSign."""
    directory = tmp_path_factory.mktemp("ca")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("vexport test CA"))
        .issuer_name(_name("vexport test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, None)
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("vexport test exporter"))
        .issuer_name(ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, None)
    )
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (directory / "key.pem").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return directory / "ca.pem", directory / "key.pem", directory / "chain.pem"


@pytest.fixture(scope="module")
def ca_signer(test_ca: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Signer:
    _, key, chain = test_ca
    config = EvidenceConfig(signing_key=key, certificate_chain=chain)
    return load_signer(config, tmp_path_factory.mktemp("data"))


def _credentials(path: Path, ca: Path) -> dict[str, object]:
    found = read_credentials(path.name, path.read_bytes(), ca.read_bytes())
    assert found is not None, f"{path.name} carries no C2PA manifest"
    return found


@pytest.mark.parametrize(
    ("container", "snapshot", "suffix"),
    [
        (ContainerFormat.MP4, False, ".mp4"),
        (ContainerFormat.JPEG, True, ".jpg"),
        (ContainerFormat.PDF, True, ".pdf"),
    ],
)
def test_credentials_validate_and_list_the_actions(
    archive: corpus.Archive,
    ca_signer: Signer,
    test_ca: tuple[Path, Path, Path],
    tmp_path: Path,
    container: ContainerFormat,
    snapshot: bool,
    suffix: str,
) -> None:
    ca = test_ca[0]
    credentials = ContentCredentials(ca_signer.key)
    signed_export(archive, ca_signer, tmp_path, container, snapshot=snapshot,
                  credentials=credentials)  # fmt: skip
    (path,) = tmp_path.glob(f"*{suffix}")
    found = _credentials(path, ca)
    assert found["state"] == "Trusted", found
    actions = found["actions"]
    assert isinstance(actions, list) and actions[0] == "c2pa.opened"
    if snapshot:
        assert "c2pa.transcoded" in actions
    else:  # a smart cut: copied into MP4, both ends re-encoded
        assert actions[1:] == ["c2pa.converted", "c2pa.transcoded"]
    if container is ContainerFormat.PDF:
        assert "c2pa.placed" in actions
    # Embedded before hashing: the signed manifest and C2PA agree, and verify says both.
    result = CliRunner().invoke(app, ["verify", str(tmp_path), "--c2pa-trust", str(ca),
                                      "--key", str(test_ca[2])])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{path.name}: verified" in result.output
    assert "C2PA: trusted; actions c2pa.opened" in result.output


def test_a_masked_transcoded_clip_says_redacted_and_transcoded(
    archive: corpus.Archive, ca_signer: Signer, test_ca: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    privacy = Privacy(masks=(((0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.5)),))
    rendering = Rendering(video=VideoEncoding(codec=VideoCodec.H264, quality=Quality.FINE))
    signed_export(archive, ca_signer, tmp_path, ContainerFormat.MP4, privacy=privacy,
                  rendering=rendering, credentials=ContentCredentials(ca_signer.key))  # fmt: skip
    (clip,) = tmp_path.glob("*.mp4")
    found = _credentials(clip, test_ca[0])
    assert found["state"] == "Trusted", found
    assert found["actions"] == [
        "c2pa.opened", "c2pa.transcoded", "c2pa.edited", "org.vexport.redacted",
    ]  # fmt: skip
    manifest = json.loads((tmp_path / "export.manifest.json").read_text())
    (entry,) = manifest["files"]
    assert manifest["processing"][0]["masks"] == 1
    assert entry["frames"]["processed"] == [
        {**entry["frames"]["processed"][0], "first": 0, "last": entry["frames"]["total"] - 1}
    ]


def test_a_changed_byte_breaks_the_credentials(
    archive: corpus.Archive, ca_signer: Signer, test_ca: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    signed_export(archive, ca_signer, tmp_path, ContainerFormat.JPEG, snapshot=True,
                  credentials=ContentCredentials(ca_signer.key))  # fmt: skip
    (image,) = tmp_path.glob("*.jpg")
    data = bytearray(image.read_bytes())
    data[-100] ^= 0x01
    image.write_bytes(bytes(data))
    found = _credentials(image, test_ca[0])
    assert found["state"] != "Trusted"
    assert found["failures"]


@pytest.mark.parametrize(
    ("container", "suffix"), [(ContainerFormat.MKV, ".mkv"), (ContainerFormat.MPEG_TS, ".ts")]
)
def test_matroska_and_mpeg_ts_get_a_sidecar_bound_to_their_bytes(
    archive: corpus.Archive,
    ca_signer: Signer,
    test_ca: tuple[Path, Path, Path],
    tmp_path: Path,
    container: ContainerFormat,
    suffix: str,
) -> None:
    credentials = ContentCredentials(ca_signer.key)
    directory = tmp_path / "export"
    directory.mkdir()
    signed_export(archive, ca_signer, directory, container, credentials=credentials)
    (clip,) = directory.glob(f"*{suffix}")
    sidecar = clip.with_name(clip.name + ".c2pa")
    ca = test_ca[0].read_bytes()
    found = read_credentials(clip.name, clip, ca, sidecar.read_bytes())
    assert found is not None and found["state"] == "Trusted", found
    assert found["actions"] == ["c2pa.opened", "c2pa.converted", "c2pa.transcoded"]
    assert read_credentials(clip.name, clip, ca) is None  # the file itself holds none
    with pytest.raises(c2pa.C2paError):  # why a sidecar: c2pa has no embedding for it
        c2pa.Reader(container.mime_type, clip.open("rb"))
    # vexport verify reads the sidecar beside the clip; a changed byte breaks both.
    result = CliRunner().invoke(app, ["verify", str(directory), "--c2pa-trust", str(test_ca[0])])
    assert result.exit_code == 0, result.output
    assert f"{clip.name}: verified" in result.output and "C2PA: trusted" in result.output
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0x01
    clip.write_bytes(bytes(data))
    changed = read_credentials(clip.name, clip, ca, sidecar.read_bytes())
    assert changed is not None and changed["state"] != "Trusted"
    result = CliRunner().invoke(app, ["verify", str(directory), "--c2pa-trust", str(test_ca[0])])
    assert result.exit_code == 1
    assert f"{clip.name}: modified" in result.output


def test_a_server_with_a_chain_signs_every_file_it_can(
    test_ca: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    ca, key, chain = test_ca
    playlist = make_hls_archive(tmp_path / "archive", ARCHIVE_START, 6.0)
    settings = make_settings(
        tmp_path / "data",
        sources=[{"origin": CAMERA, "archives": [{"storage": STORAGE, "url": playlist.as_uri()}]}],
        evidence={"manifest": True, "signing_key": str(key), "certificate_chain": str(chain)},
    )
    start = ARCHIVE_START + timedelta(seconds=1.3)
    out = tmp_path / "out"
    out.mkdir()
    with running_server(settings) as server:
        stub = server.stub()
        for fmt in (pb.StreamType.MKV, pb.StreamType.MP4):
            options = archive_clip(CAMERA, start, start + timedelta(seconds=2), fmt)
            session = start_session(stub, options)
            state = wait_completed(stub, session)
            assert state.result.succeeded, state.error
            for file in state.result.files:
                (out / f"{fmt}-{file.path}").write_bytes(download(stub, session, file.path)[0])
    names = sorted(p.name.split("-", 1)[1] for p in out.iterdir())
    assert any(n.endswith(".mkv.c2pa") for n in names)  # beside the Matroska clip
    assert not any(n.endswith(".mp4.c2pa") for n in names)  # inside the MP4
    for fmt in (pb.StreamType.MKV, pb.StreamType.MP4):
        session_dir = tmp_path / f"session-{fmt}"
        session_dir.mkdir()
        for path in out.glob(f"{fmt}-*"):
            path.rename(session_dir / path.name.split("-", 1)[1])
        result = CliRunner().invoke(
            app, ["verify", str(session_dir), "--c2pa-trust", str(ca), "--key", str(chain)]
        )
        assert result.exit_code == 0, result.output
        assert "C2PA: trusted; actions c2pa.opened" in result.output
