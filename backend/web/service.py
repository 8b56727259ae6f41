"""What every request handler shares: the loaded model, its decoder and the per-app state.

One `Service` per app lives in `app.extensions["doppel"]`; `ApiError` is how handlers
answer with a JSON error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from backend.web.batcher import DirectDecoder, MicroBatcher
from backend.web.metrics import ServiceMetrics
from backend.web.ratelimit import RateLimiter
from backend.web.schema import openapi_document, reply_request_schema
from backend.web.sessions import SessionStore, SqliteSessionStore
from model.serve.runtime import Replier


class ApiError(Exception):
    """An error answered as JSON `{"error": {"code", "message"}}` with `status`."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class Service:
    """Everything a request handler needs; lives in `app.extensions["doppel"]`."""

    settings: dict
    metrics: ServiceMetrics
    sessions: SessionStore | SqliteSessionStore
    limiter: RateLimiter  # replies, per client address
    auth_limiter: RateLimiter  # wrong or missing API keys, per client address
    replier: Replier | None = None
    decoder: MicroBatcher | DirectDecoder | None = None
    model_meta: dict = field(default_factory=dict)
    not_ready_reason: str = "model not loaded yet"

    @property
    def ready(self) -> bool:
        return self.decoder is not None

    def reply_schema(self) -> dict:
        return reply_request_schema(self.replier.personas if self.replier else [])

    def openapi(self) -> dict:
        return openapi_document(
            self.replier.personas if self.replier else [],
            self.replier.name if self.replier else "(not loaded)",
            api_key_required=bool(self.settings["api_key"]))


def current_service() -> Service:
    return current_app.extensions["doppel"]
