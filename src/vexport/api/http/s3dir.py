"""``POST /export-to-s3dir``: the broadcast workflow's call, answered in its own terms.

Every answer, errors included, is HTTP 200 with the contract's JSON
(``ErrorCode`` and friends): broadcast callers branch on ``ErrorCode``, not on
the HTTP status. The body is read here rather than validated by FastAPI so
that even a malformed one gets a contract answer (``ErrorCode`` -1).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

import vexport
from vexport.api.contract.s3dir import ExportToS3DirBody, s3dir_request_of_bytes
from vexport.s3dir.errors import S3DirError
from vexport.s3dir.service import Answer, S3DirService


class ExportToS3DirAnswer(BaseModel):
    ErrorCode: int
    ErrorMessage: str
    TimeWait: int
    VideoPath: str
    ImagePath: str
    S3Dir: str
    Version: str
    LackLength: int


def answer_json(answer: Answer) -> dict[str, Any]:
    """The answer as the contract spells it."""
    return {
        "ErrorCode": int(answer.code),
        "ErrorMessage": answer.message,
        "TimeWait": answer.time_wait_ms,
        "VideoPath": answer.video_path,
        "ImagePath": answer.image_path,
        "S3Dir": answer.s3_dir,
        "Version": vexport.__version__,
        "LackLength": answer.lack_ms,
    }


def s3dir_router(service: S3DirService) -> APIRouter:
    router = APIRouter(tags=["export-to-s3dir"])

    @router.post(
        "/export-to-s3dir",
        response_model=ExportToS3DirAnswer,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ExportToS3DirBody.model_json_schema()}},
            }
        },
        summary="Cut a clip from an S3 archive into a bucket; poll with the same request",
    )
    async def export_to_s3dir(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            checked = s3dir_request_of_bytes(raw, service.config)
        except S3DirError as exc:
            return answer_json(Answer(exc.code, str(exc)))
        return answer_json(await asyncio.to_thread(service.answer, checked))

    return router
