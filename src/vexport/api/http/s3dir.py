"""``POST /export-to-s3dir``: the broadcast workflow's call, answered in its own terms.

Every answer, errors included, is HTTP 200 with the contract's JSON
(``ErrorCode`` and friends): broadcast callers branch on ``ErrorCode``, not on
the HTTP status. The body is read here rather than validated by FastAPI so
that even a malformed one gets a contract answer (``ErrorCode`` -1).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from vexport.s3dir.errors import ErrorCode
from vexport.s3dir.jobs import Answer, S3DirJobs
from vexport.s3dir.request import ExportToS3DirBody


class ExportToS3DirAnswer(BaseModel):
    ErrorCode: int
    ErrorMessage: str
    TimeWait: int
    VideoPath: str
    ImagePath: str
    S3Dir: str
    Version: str
    LackLength: int


def s3dir_router(jobs: S3DirJobs) -> APIRouter:
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
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return Answer(ErrorCode.BAD_REQUEST, "the body is not JSON").to_json()
        answer = await asyncio.to_thread(jobs.answer, data)
        return answer.to_json()

    return router
