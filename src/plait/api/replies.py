"""JSON replies of the run routes, encoded once, the way SSE frames are: compact UTF-8, and
anything JSON has no type for as a string (a blocking reply then reads as the stream's last
event does).

Returning a dict would make FastAPI walk it with ``jsonable_encoder`` before ``json.dumps``;
for a run reply that walk is about a tenth of the request's CPU time.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def json_reply(payload: dict[str, Any]) -> Response:
    return Response(dumps(payload), media_type="application/json")
