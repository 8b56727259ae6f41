"""The reply service's Flask app factory: reply API, chat page, health, metrics.

`create_app(config)` loads the model bundle once (under gunicorn: once per worker,
after the fork), decodes a test reply to be ready, and wires the blueprints. A bundle
that fails to load does not stop the app: it serves 503 until restarted with a good
one, and says why on /readyz and in the log. Never imports TensorFlow.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Request, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from backend.config import load_config
from backend.web.api import api
from backend.web.batcher import DirectDecoder, MicroBatcher
from backend.web.metrics import ServiceMetrics
from backend.web.pages import pages
from backend.web.ratelimit import Buckets, RateLimiter
from backend.web.schema import MAX_BODY_BYTES
from backend.web.service import ApiError, Service, current_service
from backend.web.sessions import open_sessions
from model.errors import InputError
from model.logs import log_event
from model.serve.load import load_replier

log = logging.getLogger("doppel.web")
access_log = logging.getLogger("doppel.access")

# On every response, errors and static files included. The chat page runs only its own
# static script and stylesheet (its settings ride in a JSON data block, which is not
# script to CSP), so nothing inline needs allowing; no other site may frame any page.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
}
HTTP_ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 413: "too_large", 414: "uri_too_long",
                    415: "unsupported_media_type", 417: "expectation_failed",
                    431: "headers_too_large", 501: "not_implemented"}


class _UnknownLengthBody(LimitedStream):
    """A body sent without Content-Length (chunked), read up to the maximum size.

    werkzeug's own stream stops reading at the maximum and hands what it read over as
    the whole body: a cut body that may still parse and be answered. This one reads one
    byte further and refuses (413) a body that has it, as a declared length is refused.
    """

    def readall(self) -> bytes:
        data = super().readall()
        if self.is_exhausted and self._stream.read(1):
            raise RequestEntityTooLarge()
        return data


class _Request(Request):
    @cached_property
    def stream(self):
        # gunicorn and the dev server both mark a chunked body's stream as terminated
        if self.content_length is None and "wsgi.input_terminated" in self.environ:
            return _UnknownLengthBody(self.environ["wsgi.input"], self.max_content_length,
                                      is_max=True)
        return super().stream


def create_app(config: dict | None = None) -> Flask:
    settings = load_config(config)
    app = Flask(__name__)
    app.request_class = _Request
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False
    if settings["trusted_proxies"] > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings["trusted_proxies"])
    buckets = Buckets(settings["rate_limit_db"])
    service = Service(
        settings=settings,
        metrics=ServiceMetrics(),
        sessions=open_sessions(settings["sessions_db"], settings["session_max"],
                               settings["session_ttl_s"], settings["session_turns"]),
        limiter=RateLimiter("reply", settings["rate_limit_per_s"],
                            settings["rate_limit_burst"], buckets),
        auth_limiter=RateLimiter("auth-fail", settings["auth_fail_per_s"],
                                 settings["auth_fail_burst"], buckets),
    )
    app.extensions["doppel"] = service
    _load_model(service)
    app.register_blueprint(api)
    app.register_blueprint(pages)
    if settings["telegram_webhook_secret"]:
        app.register_blueprint(_telegram_webhook())
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_start_timer)
    app.after_request(_record_request)
    app.after_request(_add_security_headers)
    return app


def _telegram_webhook():
    """The webhook blueprint, imported only when the webhook is on: a reply-only
    deployment neither pays for python-telegram-bot at start nor needs it installed."""
    try:
        from backend.bots.telegram.webhook import telegram_webhook
    except ModuleNotFoundError as exc:  # e.g. a Lambda package built without it
        raise InputError(f"TELEGRAM_WEBHOOK_SECRET is set but the Telegram webhook cannot be "
                         f"imported here (no module {exc.name!r}); install python-telegram-bot, "
                         f"or on Lambda package with --with-telegram") from None
    return telegram_webhook


def _load_model(service: Service) -> None:
    bundle = service.settings["bundle"]
    if not bundle:
        service.not_ready_reason = "no model bundle configured (DOPPEL_BUNDLE)"
        log_event(log, "model_not_loaded", logging.ERROR, reason=service.not_ready_reason)
        return
    try:
        replier = load_replier(bundle, guard=service.settings["memorisation_guard"])
        replier.reply("hello", strategy="greedy", max_len=8)
    except Exception as exc:  # any failure to load is served as 503 and logged, not raised
        service.not_ready_reason = f"model bundle {bundle} failed to load: {exc}"
        log_event(log, "model_not_loaded", logging.ERROR, reason=service.not_ready_reason)
        return
    settings = service.settings
    on_batch = service.metrics.batch_size.observe
    if settings["batching"]:
        decoder = MicroBatcher(replier.reply_batch, settings["batch_max"],
                               settings["batch_wait_ms"] / 1000, on_batch,
                               stream=replier.reply_stream
                               if settings["continuous_batching"] and replier.continuous
                               else None)
    else:
        decoder = DirectDecoder(replier.reply_batch, on_batch)
    service.replier, service.model_meta, service.decoder = replier, replier.meta, decoder
    service.not_ready_reason = ""
    service.metrics.model_info.labels(
        replier.name, replier.meta.get("kind", ""), str(replier.meta.get("format_version", ""))
    ).set(1)


def _error_response(status: int, code: str, message: str, headers: dict | None = None):
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(exc: ApiError):
    return _error_response(exc.status, exc.code, exc.message, exc.headers)


def _http_error(exc: HTTPException):
    status = exc.code or 500
    headers = {}
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(exc.valid_methods)
    message = exc.description or exc.name
    if status == 413:
        message = f"request body over {MAX_BODY_BYTES} bytes"
    return _error_response(status, HTTP_ERROR_CODES.get(status, "http_error"), message, headers)


def _unexpected_error(exc: Exception):
    log_event(log, "unexpected_error", logging.ERROR, exc_info=True, method=request.method,
              path=request.path)
    return _error_response(500, "internal", "internal error; see the server log")


def _start_timer() -> None:
    g.started = time.perf_counter()


def _record_request(response):
    """One log line (event "request") and one counter increment per request."""
    latency_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    route = request.url_rule.rule if request.url_rule else "(unmatched)"
    service = current_service()
    service.metrics.requests.labels(route, request.method, str(response.status_code)).inc()
    line = {"route": route, "method": request.method, "status": response.status_code,
            "latency_ms": round(latency_ms, 2), "batch_size": g.get("batch_size")}
    if service.settings["log_text"] and "log_text" in g:
        line["text"] = g.log_text
    log_event(access_log, "request", **line)
    return response


def _add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


