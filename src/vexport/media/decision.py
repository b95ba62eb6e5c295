"""Copy, smart cut or re-encode, and why: the one decision (docs/design/media.md).

Every export path asks here (sessions at start, the runner, export-to-s3dir,
the session's ``processing`` field), so no two places can disagree about
what an export does to the video. The decision is made once, when the export
is planned, from the request alone, and stored in the plan: an export planned
by one process runs the same way in another.

What the run then finds in the media can only refine it: a smart cut of a
codec the smart cutter cannot encode becomes a full re-encode, a cut that
starts on a keyframe re-encodes nothing. What actually happened is reported
with each produced file (``ProducedFile.processing``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from vexport.media.formats import ContainerFormat, ExportKind
from vexport.media.rendering import AudioCodec, Quality, Rendering, VideoCodec

if TYPE_CHECKING:  # the plan holds decisions: its module imports this one
    from vexport.media.plan import ExportPlan, SourcePlan

__all__ = [
    "AudioPath",
    "CutMode",
    "Decision",
    "VideoPath",
    "decide",
    "decided",
    "decision_of",
    "describe",
    "pixel_reasons",
    "reencode_reasons",
]

EDIT_LIST_CONTAINERS = (ContainerFormat.MP4, ContainerFormat.MOV)
"""Containers whose edit lists can hide the frames before a copy's first shown frame."""


class CutMode(StrEnum):
    """How a stream copy meets a requested start or end between keyframes (``[media] cut``)."""

    SMART = "smart"
    """Re-encode the partial groups of pictures at the ends, copy the rest: exact in any player."""
    EDIT_LIST = "edit_list"
    """MP4/MOV: start at the keyframe before and hide the extra frames with an edit list
    (players that honour edit lists start on the asked frame); other containers: as SMART."""
    KEYFRAME = "keyframe"
    """Never re-encode for a cut: start at the keyframe before the asked frame."""


class VideoPath(StrEnum):
    COPY = "copy"
    """Packets copied; the clip starts on a keyframe (live clips, ``cut = keyframe``)."""
    EDIT_LIST = "edit_list"
    """Packets copied from the keyframe before; an edit list hides the frames before start."""
    SMART_CUT = "smart_cut"
    """Partial groups of pictures at the ends re-encoded in the source's codec, the rest copied."""
    REENCODE = "reencode"
    """Every frame decoded and encoded again (new pixels, codec, quality or frame rate)."""
    DECODE = "decode"
    """A snapshot: one frame decoded into an image."""


class AudioPath(StrEnum):
    COPY = "copy"
    REENCODE = "reencode"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    """What one source's export does to its video and audio, and why."""

    video: VideoPath
    audio: AudioPath = AudioPath.COPY
    reasons: tuple[str, ...] = ()
    """Why the video is re-encoded (REENCODE) or pixels are drawn (DECODE); else empty."""

    def describe(self) -> str:
        """The intent, for a session's ``processing`` before its files say what happened."""
        if self.video is VideoPath.DECODE:
            return "pixels drawn on the snapshot" if self.reasons else "snapshot as decoded"
        if self.video is VideoPath.REENCODE:
            return "re-encoded: " + "; ".join(self.reasons)
        text = {
            VideoPath.COPY: "stream copy",
            VideoPath.EDIT_LIST: "stream copy from the keyframe before, trimmed by an edit list",
            VideoPath.SMART_CUT: "smart cut",
        }[self.video]
        if self.audio is AudioPath.NONE:
            text += " without audio"
        elif self.audio is AudioPath.REENCODE:
            text += ", audio re-encoded"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"video": self.video.value, "audio": self.audio.value, "reasons": list(self.reasons)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Decision:
        return cls(
            video=VideoPath(data["video"]),
            audio=AudioPath(data.get("audio", AudioPath.COPY)),
            reasons=tuple(data.get("reasons", ())),
        )


def pixel_reasons(source: SourcePlan, *, text_as_pixels: bool = True) -> list[str]:
    """What draws on ``source``'s pictures (masks, crop, burnt text); empty: nothing does.

    ``text_as_pixels`` False: the text is set as real text (a PDF page), not drawn.
    """
    reasons = []
    if text_as_pixels and source.text is not None and source.text.burns_pixels:
        reasons.append("text burnt into the picture")
    privacy = source.privacy
    if privacy is not None and privacy.masks:
        reasons.append("privacy mask" + (" (inverted)" if privacy.invert else ""))
    if privacy is not None and privacy.crop is not None:
        reasons.append("crop area")
    return reasons


def reencode_reasons(rendering: Rendering, source: SourcePlan) -> list[str]:
    """Why ``source``'s video needs new pixels, a new codec or a new clock; empty: it need not."""
    reasons = []
    video = rendering.video
    if video.codec is not VideoCodec.COPY:
        reasons.append(f"video codec {video.codec.value} asked")
    if video.quality is not Quality.NORMAL:
        reasons.append(f"video quality {video.quality.value} asked")
    if video.frame_divisor > 1:
        reasons.append(f"1/{video.frame_divisor} of the frame rate asked")
    if rendering.time_lapse is not None:
        reasons.append("time-lapse asked")
    return reasons + pixel_reasons(source)


def _audio_path(rendering: Rendering) -> AudioPath:
    if rendering.audio.codec is AudioCodec.NONE:
        return AudioPath.NONE
    if (
        rendering.audio.codec is not AudioCodec.COPY
        or rendering.audio.quality is not Quality.NORMAL
    ):
        return AudioPath.REENCODE
    return AudioPath.COPY


def decide(plan: ExportPlan, source: SourcePlan, cut: CutMode = CutMode.SMART) -> Decision:
    """The decision for one source of ``plan`` (DESIGN rule: exact cuts by default)."""
    if not plan.kind.is_clip:
        drawn = pixel_reasons(source, text_as_pixels=plan.container is not ContainerFormat.PDF)
        return Decision(video=VideoPath.DECODE, audio=AudioPath.NONE, reasons=tuple(drawn))
    reasons = tuple(reencode_reasons(plan.rendering, source))
    if reasons:
        return Decision(
            video=VideoPath.REENCODE, audio=_audio_path(plan.rendering), reasons=reasons
        )
    audio = _audio_path(plan.rendering)
    if plan.kind is ExportKind.LIVE_CLIP or cut is CutMode.KEYFRAME:
        return Decision(video=VideoPath.COPY, audio=audio)
    if cut is CutMode.EDIT_LIST and plan.container in EDIT_LIST_CONTAINERS:
        return Decision(video=VideoPath.EDIT_LIST, audio=audio)
    return Decision(video=VideoPath.SMART_CUT, audio=audio)


def decided(plan: ExportPlan, cut: CutMode = CutMode.SMART) -> ExportPlan:
    """``plan`` with every source's decision made (kept where one was already stored)."""
    sources = tuple(
        s if s.decision is not None else replace(s, decision=decide(plan, s, cut))
        for s in plan.sources
    )
    return replace(plan, sources=sources)


def decision_of(plan: ExportPlan, source: SourcePlan) -> Decision:
    """The stored decision, or (plans made before decisions were stored) a fresh one."""
    return source.decision if source.decision is not None else decide(plan, source)


def describe(plan: ExportPlan) -> str:
    """The plan's intent in one line; the same for every source is said once."""
    described = [decision_of(plan, s).describe() for s in plan.sources]
    if len(set(described)) == 1:
        return described[0]
    return "; ".join(f"{s.origin}: {d}" for s, d in zip(plan.sources, described, strict=True))
