"""JSON routes: POST /api/reply, GET /api/personas, /openapi.json, /healthz, /readyz, /metrics.
With DOPPEL_API_KEY_FOR_READS, the key guards /api/personas, /openapi.json and /metrics too.

Order of checks on /api/reply: failed API keys from the address (429), API key (401),
rate limit (429), model ready (503), content type (415), body size (413), JSON and fields
(400, from the one schema /openapi.json publishes). Rate limits count per client address.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time

from flask import Blueprint, Response, g, jsonify, request

from backend.web.ratelimit import RateLimiter
from backend.web.schema import ValidationError, json_media_type_error, validate
from backend.web.service import ApiError, Service, current_service
from model.serve.runtime import ReplyRequest, UnknownPersona

api = Blueprint("api", __name__)

# Sampling at a temperature this low is greedy decoding, minus the overflow of logits / T.
GREEDY_BELOW = 0.01
SESSION_ID_BYTES = 18  # 144 random bits, 24 URL-safe characters


@api.post("/api/reply")
def reply():
    started = time.perf_counter()
    service = current_service()
    client = _authenticate(service)
    _limit(service.limiter, client, "too many requests")
    _require_ready(service)
    body = _json_body()
    try:
        validate(body, service.reply_schema())
    except ValidationError as exc:
        code = "unknown_persona" if exc.keyword == "enum" else "invalid_field"
        raise ApiError(400, code, str(exc)) from None

    session_id = body.get("session_id")
    history = service.sessions.history(session_id) if session_id else []
    if session_id and not history:
        # Session ids are the server's: an id it did not issue (a client's "new", or a
        # guessable one two clients might both choose) or one that expired starts a new
        # session under a fresh random id, which the response carries.
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    given = [(text, None) for text in body.get("context", [])]
    turns = [*history, *given]
    reply_request = ReplyRequest.from_turns(body["message"], turns, body.get("persona"),
                                            _decoding(body))
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
    answer = {"reply": result.text, "messages": result.messages, "persona": result.persona,
              "model": service.replier.name, "latency_ms": round(latency_s * 1000, 3)}
    if session_id:
        answer["session_id"] = session_id
    return jsonify(answer)


@api.get("/api/personas")
def personas():
    service = current_service()
    _authenticate_reads(service)
    _require_ready(service)
    replier = service.replier
    return jsonify(personas=list(replier.personas), default=replier.default_persona,
                   model=replier.name)


@api.get("/openapi.json")
def openapi():
    service = current_service()
    _authenticate_reads(service)
    return jsonify(service.openapi())


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
    service = current_service()
    _authenticate_reads(service)
    body, content_type = service.metrics.exposition()
    return Response(body, content_type=content_type)


def _authenticate(service: Service) -> str:
    """The caller's address, its rate-limit identity; 401 unless the configured key is given.

    Every key check first takes a token from the address's auth-failure bucket and gives
    it back when the key is right: however many requests arrive at once, on however many
    workers, no more guesses are checked than that bucket holds.
    """
    address = request.remote_addr or "unknown"
    expected = service.settings["api_key"]
    if not expected:
        return address
    _limit(service.auth_limiter, address, "too many wrong or missing API keys from this address")
    given = request.headers.get("X-API-Key", "")
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        given = authorization[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized",
                       "missing or wrong API key (Authorization: Bearer KEY or X-API-Key)")
    service.auth_limiter.release(address)
    return address


def _authenticate_reads(service: Service) -> None:
    """The read-only routes need the key only where `api_key_for_reads` says so: the
    persona names and the metrics can say more about a private bot than its owner wants."""
    if service.settings["api_key_for_reads"]:
        _authenticate(service)


def _limit(limiter: RateLimiter, client: str, reason: str) -> None:
    wait_s = limiter.acquire(client)
    if wait_s:
        raise ApiError(429, "rate_limited", f"{reason}; retry in {wait_s} s",
                       {"Retry-After": str(wait_s)})


def _require_ready(service: Service) -> None:
    if not service.ready:
        raise ApiError(503, "not_ready", "the model is not loaded; see /readyz",
                       {"Retry-After": "5"})


def _json_body() -> dict:
    refused = json_media_type_error(request.content_type)
    if refused:
        raise ApiError(415, "unsupported_media_type", refused)
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
