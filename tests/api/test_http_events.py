"""Live progress over server-sent events, read over a real socket with httpx streaming."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.api.conftest import ARCHIVE_START, CAMERA
from tests.api.harness import RunningServer
from vexport.api.http import events


def _events(response: httpx.Response) -> Iterator[tuple[str, dict[str, object] | str]]:
    """(event name, data) for each event; ("comment", text) for comment lines."""
    name, data = "message", ""
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            name = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data += line.partition(":")[2].strip()
        elif line == "" and data:
            yield name, json.loads(data)
            name, data = "message", ""


def _clip_body(seconds: float) -> dict[str, object]:
    end = ARCHIVE_START + timedelta(seconds=1 + seconds)
    return {
        "archive": {
            "sources": [{"origin": CAMERA}],
            "start_timestamp": (ARCHIVE_START + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%S"),
            "end_timestamp": end.strftime("%Y%m%dT%H%M%S"),
        },
        "stream": {"format": "MP4"},
    }


def test_a_session_stream_sends_each_change_until_completed(server: RunningServer) -> None:
    with httpx.Client(base_url=server.http_url, timeout=60) as client:
        started = client.post("/api/v1/sessions", json=_clip_body(4))
        assert started.status_code == 201
        session_id = started.json()["session_id"]
        url = f"/api/v1/sessions/{session_id}/events"
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            received = list(_events(response))  # the server ends the stream after completion
    states = [data for name, data in received if name == "state"]
    assert received[-1] == ("end", {"id": session_id})
    assert all(isinstance(s, dict) and s["id"] == session_id for s in states)
    final = states[-1]["state"]  # type: ignore[index]
    assert final["state"] == "S_COMPLETED"
    assert final["result"]["succeeded"] is True
    assert final["result"]["files"][0]["mime_type"] == "video/mp4"
    texts = [json.dumps(s, sort_keys=True) for s in states]
    assert len(texts) == len(set(texts)), "a state is sent only when it changed"
    progress = [s["state"]["progress"] for s in states]  # type: ignore[index]
    assert progress == sorted(progress)


def test_an_unknown_session_is_a_json_404_before_any_event(server: RunningServer) -> None:
    answer = httpx.get(f"{server.http_url}/api/v1/sessions/nope/events", timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert answer.json()["error"]["field"] == "session_id"


def test_the_list_stream_sends_new_sessions_and_heartbeats(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "LIST_POLL_SECONDS", 0.1)
    monkeypatch.setattr(events, "HEARTBEAT_SECONDS", 0.3)
    with (
        httpx.Client(base_url=server.http_url, timeout=60) as client,
        client.stream("GET", "/api/v1/sessions/events") as response,
    ):
        assert response.status_code == 200
        stream = _events(response)
        name, first = next(stream)
        assert name == "sessions" and isinstance(first, dict)
        assert isinstance(first["sessions"], list)
        name, _ = next(stream)
        assert name == "comment"  # nothing changed: a heartbeat
        session_id = client.post("/api/v1/sessions", json=_clip_body(2)).json()["session_id"]
        seen: list[str] = []
        for name, data in stream:
            if name != "session" or not isinstance(data, dict):
                continue
            if data["session"]["id"] != session_id:  # type: ignore[index]
                continue
            seen.append(data["state"]["state"])  # type: ignore[index]
            if seen[-1] == "S_COMPLETED":
                break
    assert seen[-1] == "S_COMPLETED"
    assert seen == sorted(seen, key=["S_NONE", "S_RUNNING", "S_COMPLETED"].index)
