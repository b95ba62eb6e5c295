"""A fast, seeded fuzzer of ``Options`` messages and export-to-s3dir bodies.

Hypothesis (``fuzz_strategies.py``) explores and shrinks, at a few ms an
example; ten thousand of them would take minutes. This fuzzer mutates valid
seed messages field by field through their descriptors (any field at any
depth, set to an edge value of its type: unknown enum numbers, NaN, years 1
and 9999, the integer limits, long and odd text), at microseconds a message,
so a run of 10,000 takes seconds and is the same on every run.
"""

from __future__ import annotations

import base64
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from vexport.protos.axxonsoft.bl.mmexport import Export_pb2 as pb

ARCHIVE_START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

F = FieldDescriptor
_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
_TIMES = [
    "00010101T000000", "09991231T235959", "18991231T235959", "19000101T000000",
    "99991229T235959", "99991231T235959", "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+05:00", "2026-01-01T12:00:01Z", "2026-01-01T12:00:01",
    "20261301T000000", "20260101T250000", "yesterday",
]  # fmt: skip
_TEXTS = [
    "", " ", "{Timestamp} {ExportComment}", "{Nope}", "%Y-%m-%d %Q", "%3N", "../etc/passwd",
    "a\x00b", "é" * 300, "x" * 5000, "hosts/none/DeviceIpint.0", "\ud7ff", "MP4", "0",
]  # fmt: skip
_FLOATS = [0.0, 0.5, 1.0, -0.0, -1.0, 2.0, 1e-45, 3.4e38, math.nan, math.inf, -math.inf]


def _time(rng: random.Random) -> str:
    moment = ARCHIVE_START + timedelta(seconds=rng.uniform(-10, 20))
    return f"{moment.year:04d}" + moment.strftime("%m%dT%H%M%S.%f")


class OptionsFuzzer:
    """``next()`` is a new ``Options``: a valid seed with a few fields set to edge values."""

    def __init__(self, seed: int, origins: list[str], live_origins: list[str]) -> None:
        self.rng = random.Random(seed)
        self.origins = origins
        self.live_origins = live_origins
        self.seeds = self._seeds()

    def next(self) -> pb.Options:
        message = pb.Options()
        message.CopyFrom(self.rng.choice(self.seeds))
        for _ in range(self.rng.choice([0, 1, 1, 2, 2, 3, 5])):
            self._mutate(message, depth=0)
        return message

    def _seeds(self) -> list[pb.Options]:
        start, end = _time(random.Random(1)), _time(random.Random(2))
        seeds = []
        for output in ("stream", "snapshot"):
            archive = pb.Options()
            source = archive.archive.sources.add(origin=self.origins[0])
            archive.archive.start_timestamp = min(start, end)
            archive.archive.end_timestamp = max(start, end)
            getattr(archive, output).SetInParent()
            seeds.append(archive)
            live = pb.Options()
            live.live.sources.add(origin=self.live_origins[0])
            if output == "stream":
                live.live.duration.seconds = 1
            getattr(live, output).SetInParent()
            seeds.append(live)
            texted = pb.Options()
            texted.CopyFrom(archive)
            texted.settings.add(comment="fuzz")
            texted.settings.add(timestamp_format="%H:%M:%S")
            source = texted.archive.sources[0]
            polygon = source.settings.add().mask_space.space.add()
            for x, y in ((0.1, 0.1), (0.5, 0.1), (0.3, 0.4)):
                polygon.points.add(x=x, y=y)
            texted.settings.add(apply_mask=True)
            seeds.append(texted)
        return seeds

    def _mutate(self, message: Message, depth: int) -> None:
        rng = self.rng
        field = rng.choice(message.DESCRIPTOR.fields)
        repeated = field.is_repeated
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                getattr(message, field.name)[rng.choice(["", "x", "video"])].SetInParent()
                return
            if repeated:
                items = getattr(message, field.name)
                if len(items) and rng.random() < 0.3:
                    del items[rng.randrange(len(items))]
                    return
                child = (
                    items[rng.randrange(len(items))]
                    if len(items) and rng.random() < 0.5
                    else items.add()
                )
            else:
                child = getattr(message, field.name)
            if depth < 5 and rng.random() < 0.85:
                self._mutate(child, depth + 1)
            else:
                child.SetInParent()
            return
        value = self._scalar(field)
        if repeated:
            getattr(message, field.name).append(value)
        else:
            setattr(message, field.name, value)

    def _scalar(self, field: FieldDescriptor) -> Any:
        rng = self.rng
        kind = field.type
        if kind == F.TYPE_BOOL:
            return rng.random() < 0.5
        if kind in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
            return rng.choice(_FLOATS) if rng.random() < 0.5 else rng.uniform(-0.2, 1.2)
        if kind == F.TYPE_ENUM:
            known = [v.number for v in field.enum_type.values]
            return rng.choice(known) if rng.random() < 0.8 else rng.choice([-1, 77, 999, 2**31 - 1])
        if kind in _INT_RANGES:
            low, high = _INT_RANGES[kind]
            pool = [low, high, 0, 1, -1 if low < 0 else 2, 16383, 16384, 840, 841]
            value = rng.choice(pool) if rng.random() < 0.6 else rng.randint(-1000, 100_000)
            return min(max(value, low), high)
        if kind == F.TYPE_BYTES:
            return rng.randbytes(rng.choice([0, 3, 64]))
        if kind == F.TYPE_STRING:
            if "timestamp" in field.name or field.name in ("begin_time", "end_time"):
                return rng.choice(_TIMES) if rng.random() < 0.5 else _time(rng)
            if field.name == "origin":
                return rng.choice([*self.origins, *self.live_origins, *_TEXTS])
            return rng.choice(_TEXTS)
        raise AssertionError(f"no values for {field.full_name}")


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


_JSON_ODD: list[Any] = [
    None, True, False, 0, -1, 1.5, 2.0, 10**30, -(10**30), "", "1", "true", "x" * 2000,
    [], {}, [1, 2], {"a": None}, 253_402_300_799_000, 253_402_127_999_000,
]  # fmt: skip


class S3DirFuzzer:
    """``next()`` is the bytes of a body: a valid request with fields changed or dropped."""

    def __init__(self, seed: int, caller: str, bucket: str) -> None:
        self.rng = random.Random(seed)
        self.caller = caller
        self.bucket = bucket
        start = round(ARCHIVE_START.timestamp() * 1000)
        self.storage: dict[str, Any] = {
            "storage_purpose": "ts", "storage_type": "S3", "storage_enable": True,
            "storage_name": bucket, "storage_location": "us-east-1",
            "storage_root_folder": "root",
        }  # fmt: skip
        self.body: dict[str, Any] = {
            "SessionId": caller, "LivePath": "cam/index.m3u8", "StartPos": start,
            "Duration": 2000, "export_type": 0, "ExportS3Bucket": "dest-bucket",
            "ExportS3Region": "us-east-1", "ExportS3Key": "AK:SECRET",
            "FileName": "out/clip.ts",
        }  # fmt: skip
        self.fields: dict[str, list[Any]] = {
            "SessionId": [caller, "", "intruder", caller + " "],
            "LivePath": ["cam/manifest.mpd", "x.flv", "../up.m3u8", "/abs.m3u8",
                         "a%2F..%2Fb.m3u8", "a\\b.m3u8", "c\x01.m3u8"],
            "StartPos": [start - 5000, start + 100_000, 0, -1],
            "Duration": [1, 0, -5, 3_600_000, 3_600_001],
            "export_type": [1, 2, 3, -1],
            "ExportS3Bucket": ["", "UPPER", "a", "b" * 70, "xn--bad"],
            "ExportS3Region": ["", "mars-1"],
            "ExportS3Key": ["nocolon", ":", "", "AK:", ":SECRET"],
            "FileName": ["clip.mp4", "x.exe", "../x.ts", "", "dir/", "a\x00.ts", "c.MKV"],
        }  # fmt: skip
        self.storage_values: dict[str, list[Any]] = {
            "storage_purpose": ["mp4", "flv"], "storage_type": ["s3", "NFS"],
            "storage_enable": ["true", "0", False], "storage_name": ["Bad_Bucket", ""],
            "storage_root_folder": ["../x", "/abs", ""],
        }  # fmt: skip

    def next(self) -> bytes:
        rng = self.rng
        shape = rng.randrange(40)
        if shape == 0:
            return rng.randbytes(rng.randrange(40))
        if shape == 1:
            return b"[" * 100_000 + b"]" * 100_000
        if shape == 2:
            return json.dumps(rng.choice(_JSON_ODD)).encode()
        body = dict(self.body)
        storage = dict(self.storage)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            self._change(body, self.fields)
        storages: Any = [storage]
        for _ in range(rng.choice([0, 0, 1, 2])):
            self._change(storage, self.storage_values)
        encode: Callable[[Any], str] = _b64
        info = rng.randrange(12)
        if info == 0:
            body["storage_info"] = rng.choice(["%%%", "", "bm90IGpzb24="])
        elif info == 1:
            body["storage_info"] = encode(rng.choice(_JSON_ODD))
        else:
            body["storage_info"] = encode(storages if info > 2 else storage)
        return json.dumps(body).encode()

    def _change(self, target: dict[str, Any], values: dict[str, list[Any]]) -> None:
        rng = self.rng
        key = rng.choice(list(values))
        what = rng.randrange(10)
        if what == 0:
            target.pop(key, None)
        elif what < 4:
            target[key] = rng.choice(_JSON_ODD)
        else:
            target[key] = rng.choice(values[key])
