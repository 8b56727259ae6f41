"""JSON routes: POST /api/reply, GET /api/personas, /openapi.json, /healthz, /readyz, /metrics.

Order of checks on /api/reply: API key (401), rate limit (429), model ready (503), body
size (413), JSON and fields (400, from the one schema /openapi.json publishes).
"""

from __future__ import annotations

import hmac
import json
import time

from flask import Blueprint, Response, g, jsonify, request

from backend.schema import ValidationError, validate
from backend.service import ApiError, Service, current_service
from model.runtime import ReplyRequest, UnknownPersona

api = Blueprint("api", __name__)

# Sampling at a temperature this low is greedy decoding, minus the overflow of logits / T.
GREEDY_BELOW = 0.01


@api.post("/api/reply")
def reply():
    started = time.perf_counter()
    service = current_service()
    client = _authenticate(service)
    wait_s = service.limiter.acquire(client)
    if wait_s:
        raise ApiError(429, "rate_limited", f"too many requests; retry in {wait_s} s",
                       {"Retry-After": str(wait_s)})
    _require_ready(service)
    body = _json_body()
    try:
        validate(body, service.reply_schema())
    except ValidationError as exc:
        code = "unknown_persona" if exc.keyword == "enum" else "invalid_field"
        raise ApiError(400, code, str(exc)) from None

    session_id = body.get("session_id")
    history = service.sessions.history(session_id) if session_id else []
    given = [(text, None) for text in body.get("context", [])]
    turns = [*history, *given]
    speakers = [speaker for _, speaker in turns] + [None]
    reply_request = ReplyRequest(
        message=body["message"], context=[text for text, _ in turns],
        persona=body.get("persona"), decoding=_decoding(body),
        speakers=speakers if any(speakers) else None)
    try:
        result, g.batch_size = service.decoder.submit(reply_request)
    except UnknownPersona as exc:
        raise ApiError(400, "unknown_persona", str(exc)) from None
    if session_id:
        service.sessions.record(session_id, [*given, (body["message"], None),
                                             (result.text, result.persona)])
    if service.settings["log_text"]:
        g.log_text = {"message": body["message"], "reply": result.text}
    latency_s = time.perf_counter() - started
    service.metrics.reply_latency.observe(latency_s)
    return jsonify(reply=result.text, messages=result.messages, persona=result.persona,
                   model=service.replier.name, latency_ms=round(latency_s * 1000, 3))


@api.get("/api/personas")
def personas():
    service = current_service()
    _require_ready(service)
    replier = service.replier
    return jsonify(personas=list(replier.personas), default=replier.default_persona,
                   model=replier.name)


@api.get("/openapi.json")
def openapi():
    return jsonify(current_service().openapi())


@api.get("/healthz")
def healthz():
    return jsonify(status="ok")


@api.get("/readyz")
def readyz():
    service = current_service()
    if not service.ready:
        response = jsonify(status="not ready", reason=service.not_ready_reason)
        response.status_code = 503
        return response
    return jsonify(status="ready", model=service.replier.name,
                   kind=service.model_meta.get("kind"))


@api.get("/metrics")
def metrics():
    body, content_type = current_service().metrics.exposition()
    return Response(body, content_type=content_type)


def _authenticate(service: Service) -> str:
    """The rate-limit identity of the caller; 401 unless the configured key is given."""
    expected = service.settings["api_key"]
    if not expected:
        return f"ip:{request.remote_addr}"
    given = request.headers.get("X-API-Key", "")
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized",
                       "missing or wrong API key (Authorization: Bearer KEY or X-API-Key)")
    return "key"


def _require_ready(service: Service) -> None:
    if not service.ready:
        raise ApiError(503, "not_ready", "the model is not loaded; see /readyz",
                       {"Retry-After": "5"})


def _json_body() -> dict:
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return body


def _decoding(body: dict) -> dict:
    """Per-request sampling settings; temperature 0 (below GREEDY_BELOW) means greedy."""
    decoding = {}
    if body.get("temperature", 1) < GREEDY_BELOW:
        decoding["strategy"] = "greedy"
    elif "temperature" in body or "top_p" in body:
        decoding["strategy"] = "sample"
        decoding.update({key: body[key] for key in ("temperature", "top_p") if key in body})
    if "seed" in body:
        decoding["seed"] = int(body["seed"])  # the schema lets 7.0 through as an integer
    return decoding
