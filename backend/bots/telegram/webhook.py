"""`POST /telegram/webhook`: Telegram pushes updates to the Flask app (Lambda or EC2).

Telegram sends every update with the secret given to setWebhook in the
`X-Telegram-Bot-Api-Secret-Token` header; a request without the right one is refused
(403), as is a body not sent as application/json (415, as on the reply API), and the
route is off (404) while TELEGRAM_WEBHOOK_SECRET is unset. Each update is
answered before the request returns, by the same ChatBot as long polling (claims in the
state store make a redelivered update a no-op). There is no burst window here: one
request is one update. An update another process is still answering gets 503, so
Telegram delivers it again later, when a stale claim can be taken over.

Register with `app.register_blueprint(telegram_webhook)`; the model and settings come
from the app's Service (`app.extensions["doppel"]`), or from `configure(app, ...)`.
"""

from __future__ import annotations

import asyncio
import hmac
import threading

from flask import Blueprint, current_app, jsonify, request
from telegram import Update

from backend.bots.ledger.stores import open_state
from backend.bots.telegram.api import TelegramApi, make_bot
from backend.bots.telegram.chat import ChatBot
from backend.web.schema import json_media_type_error
from model.serve.runtime import Replier

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
EXTENSION = "telegram"

telegram_webhook = Blueprint("telegram_webhook", __name__)


class WebhookChannel:
    """One bot and ChatBot per process, on an event loop of their own (so the HTTP client
    and its connections outlive a request); requests are answered one at a time."""

    def __init__(self, settings: dict, replier: Replier | None, state=None):
        self.settings, self.replier = settings, replier
        self.state = state if state is not None else open_state(settings["telegram_state"])
        self.bot = make_bot(settings)
        self.chat: ChatBot | None = None
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="telegram-webhook",
                         daemon=True).start()

    def handle(self, payload: dict) -> bool:
        """Answer one update; False when another process holds its claim."""
        with self.lock:
            return asyncio.run_coroutine_threadsafe(self._handle(payload), self.loop).result()

    async def _handle(self, payload: dict) -> bool:
        if self.chat is None:
            await self.bot.initialize()  # getMe: who "@mentions" and "replies to me" mean
            api = TelegramApi(self.bot, self.settings["telegram_retry_attempts"],
                              self.settings["telegram_backoff_s"])
            self.chat = ChatBot(self.bot.bot, self.replier, self.state, self.settings, api)
        await self.chat.receive(Update.de_json(payload, self.bot))
        await self.chat.flush(force=True)
        finished = not self.chat.pending()
        self.chat.bursts.clear()  # a busy update comes again with Telegram's retry
        return finished


def configure(app, settings: dict, replier: Replier | None, state=None) -> WebhookChannel:
    """Give the webhook its settings and model explicitly (apps without a Service)."""
    channel = WebhookChannel(settings, replier, state)
    app.extensions[EXTENSION] = channel
    return channel


_configure_lock = threading.Lock()


def _channel() -> WebhookChannel:
    with _configure_lock:
        if EXTENSION not in current_app.extensions:
            service = current_app.extensions["doppel"]
            configure(current_app, service.settings, service.replier)
        return current_app.extensions[EXTENSION]


def _error(status: int, code: str, message: str):
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    return response


@telegram_webhook.post("/telegram/webhook")
def receive_update():
    settings = current_app.extensions[EXTENSION].settings \
        if EXTENSION in current_app.extensions else current_app.extensions["doppel"].settings
    secret = settings["telegram_webhook_secret"]
    if not secret:
        return _error(404, "not_found", "the Telegram webhook is off (no TELEGRAM_WEBHOOK_SECRET)")
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return _error(403, "forbidden", f"missing or wrong {SECRET_HEADER} header")
    refused = json_media_type_error(request.content_type)  # Telegram sends JSON, as the API
    if refused:
        return _error(415, "unsupported_media_type", refused)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
        return _error(400, "bad_request", "body must be a Telegram Update (JSON with update_id)")
    channel = _channel()
    if channel.replier is None:
        return _error(503, "not_ready", "model not loaded")
    if not channel.handle(payload):
        response = _error(503, "busy", "another process is answering this update")
        response.headers["Retry-After"] = "5"
        return response
    return jsonify(ok=True)
