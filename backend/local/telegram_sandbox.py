"""`python -m backend telegram-sandbox`: a local stand-in for the Telegram Bot API.

A real HTTP server on 127.0.0.1 speaking the Bot API at `/bot<token>/<method>` (JSON,
form or query parameters, answers `{"ok": ..., "result" | "error_code", "description",
"parameters"}`): getMe, getUpdates (offsets confirm updates; `timeout` long-polls),
sendMessage, sendChatAction, setWebhook, deleteWebhook, getWebhookInfo. Like Telegram,
getUpdates answers 409 while a webhook is set, and injected messages are then POSTed to
the webhook with its secret token header.

A control API under `/control/` lets tests and people play the users and the network:
  POST   /control/messages  {chat_id, text, chat_type?, user?, mention?, reply_to?,
                             date? (epoch seconds the user sent it; default now)}
  POST   /control/faults    {method, chat_id?, kind: 429|403|500|hang, retry_after?,
                             seconds?, after?, times?}
  DELETE /control/faults    clear faults (and release calls held by a hang)
  GET    /control/sent      what the bot sent (messages and chat actions), ?chat_id=
  GET    /control/calls     every Bot API call with its status; flood_violations counts
                            calls to a chat made before its 429's retry_after elapsed
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

from backend.local.listening import serve_until_stopped

BOT_ID = 7_000_000_001
FAULT_KINDS = ("429", "403", "500", "hang")
FAULT_FIELDS = {"method", "chat_id", "kind", "retry_after", "seconds", "after", "times"}
INT_PARAMETERS = {"chat_id", "offset", "limit", "timeout", "reply_to_message_id"}
JSON_PARAMETERS = {"reply_parameters", "allowed_updates", "entities", "reply_markup"}


class ApiError(Exception):
    """A Bot API error answer: `{"ok": false, "error_code", "description", "parameters"?}`."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


@dataclass
class Fault:
    method: str
    kind: str  # 429 | 403 | 500 | hang
    chat_id: int | None = None  # None: any chat
    retry_after: int = 1  # 429: seconds the bot must wait
    seconds: float = 30.0  # hang: how long the call is held before it is served
    after: int = 0  # let this many matching calls through first
    times: int = 1  # how many calls it hits; -1 = until cleared


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # entity offsets count UTF-16 code units


@dataclass
class TelegramWorld:
    """Chats, updates, what the bot sent and the faults, behind one condition variable."""

    username: str = "doppel_bot"
    token: str | None = None  # None: any token is accepted
    updates: list = field(default_factory=list)  # unconfirmed updates, oldest first
    sent: list = field(default_factory=list)  # bot's messages and chat actions, in order
    calls: list = field(default_factory=list)  # {method, chat_id, status, at}
    faults: list = field(default_factory=list)
    flood_until: dict = field(default_factory=dict)  # chat id -> time its 429 ends
    flood_violations: int = 0
    webhook: dict = field(default_factory=lambda: {"url": "", "secret_token": ""})
    chats: dict = field(default_factory=dict)  # id -> chat object
    messages: dict = field(default_factory=dict)  # message id -> message (users' and bot's)
    next_update_id: int = 500_000_001
    next_message_id: int = 1
    changed: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def bot(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Doppel", "username": self.username}

    # --- the users' side ---------------------------------------------------------------
    def inject(self, spec: dict) -> dict:
        """A user's message as a new update; returns {update_id, message_id}."""
        chat_id, text = int(spec["chat_id"]), str(spec["text"])
        chat_type = spec.get("chat_type", "private" if chat_id > 0 else "group")
        user = spec.get("user") or {"id": abs(chat_id), "first_name": f"User{abs(chat_id)}"}
        chat = ({"id": chat_id, "type": "private", "first_name": user["first_name"]}
                if chat_type == "private" else {"id": chat_id, "type": chat_type,
                                                "title": f"Group {chat_id}"})
        entities = []
        if spec.get("mention"):
            text = f"@{self.username} {text}"
            entities.append({"type": "mention", "offset": 0,
                             "length": _utf16_len(self.username) + 1})
        if text.startswith("/"):
            entities.append({"type": "bot_command", "offset": 0,
                             "length": _utf16_len(text.split()[0])})
        with self.changed:
            message = {"message_id": self.next_message_id,
                       "date": int(spec.get("date", time.time())), "chat": chat, "text": text,
                       "from": {"id": int(user["id"]), "is_bot": False,
                                "first_name": user.get("first_name", "User")}}
            if entities:
                message["entities"] = entities
            if spec.get("reply_to") is not None:
                message["reply_to_message"] = self._message(int(spec["reply_to"]))
            update = {"update_id": self.next_update_id, "message": message}
            self.chats[chat_id], self.messages[message["message_id"]] = chat, message
            self.next_message_id += 1
            self.next_update_id += 1
            self.updates.append(update)
            self.changed.notify_all()
            webhook = dict(self.webhook)
        if webhook["url"]:
            threading.Thread(target=_deliver, args=(webhook, update), daemon=True).start()
        return {"update_id": update["update_id"], "message_id": message["message_id"]}

    def _message(self, message_id: int) -> dict:
        if message_id not in self.messages:
            raise ApiError(400, f"Bad Request: message {message_id} to reply to not found")
        return {k: v for k, v in self.messages[message_id].items() if k != "reply_to_message"}

    def add_fault(self, spec: dict) -> Fault:
        unknown = sorted(set(spec) - FAULT_FIELDS)
        if unknown or str(spec.get("kind")) not in FAULT_KINDS or not spec.get("method"):
            raise ApiError(400, f"a fault needs method and kind in {FAULT_KINDS}; "
                                f"unknown keys: {unknown}")
        fault = Fault(**{**spec, "kind": str(spec["kind"])})
        with self.changed:
            self.release.clear()
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.changed:
            self.faults.clear()
            self.release.set()

    # --- the bot's side ----------------------------------------------------------------
    def call(self, method: str, params: dict):
        """Serve one Bot API call, after any fault or flood limit that applies to it."""
        chat_id = params.get("chat_id")
        fault = self._take_fault(method, chat_id)
        status = 200
        try:
            if fault and fault.kind == "hang":
                self._record(method, chat_id, "held")
                self.release.wait(fault.seconds)
            elif fault:
                raise self._fault_error(fault, chat_id)
            self._check_flood(chat_id)
            handler = getattr(self, f"api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            return handler(params)
        except ApiError as error:
            status = error.code
            raise
        finally:
            self._record(method, chat_id, status)

    def _take_fault(self, method: str, chat_id) -> Fault | None:
        with self.changed:
            for fault in self.faults:
                if fault.method != method or fault.times == 0:
                    continue
                if fault.chat_id is not None and fault.chat_id != chat_id:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1 if fault.times > 0 else 0
                return fault
        return None

    def _fault_error(self, fault: Fault, chat_id) -> ApiError:
        if fault.kind == "429":
            with self.changed:
                self.flood_until[chat_id] = time.time() + fault.retry_after
            return ApiError(429, f"Too Many Requests: retry after {fault.retry_after}",
                            {"retry_after": fault.retry_after})
        if fault.kind == "403":
            return ApiError(403, "Forbidden: bot was blocked by the user")
        return ApiError(500, "Internal Server Error")

    def _check_flood(self, chat_id) -> None:
        with self.changed:
            left = self.flood_until.get(chat_id, 0.0) - time.time()
            if left > 0:
                self.flood_violations += 1
                raise ApiError(429, f"Too Many Requests: retry after {int(left) + 1}",
                               {"retry_after": int(left) + 1})

    def _record(self, method: str, chat_id, status) -> None:
        with self.changed:
            self.calls.append({"method": method, "chat_id": chat_id, "status": status,
                               "at": time.time()})
            self.changed.notify_all()

    def api_getMe(self, params: dict) -> dict:
        return self.bot

    def api_getUpdates(self, params: dict) -> list:
        offset, limit = params.get("offset"), min(int(params.get("limit") or 100), 100)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 50.0)
        with self.changed:
            if self.webhook["url"]:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                    "active; use deleteWebhook to delete the webhook first")
            if offset is not None:
                offset = int(offset)
                # Confirm everything before `offset`; a negative one keeps the last -offset.
                self.updates = (self.updates[offset:] if offset < 0 else
                                [u for u in self.updates if u["update_id"] >= offset])
            while not self.updates and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            return self.updates[:limit]

    def api_sendMessage(self, params: dict) -> dict:
        chat_id, text = int(params["chat_id"]), str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        reply_to = params.get("reply_to_message_id")
        if reply_to is None and isinstance(params.get("reply_parameters"), dict):
            reply_to = params["reply_parameters"].get("message_id")
        with self.changed:
            message = {"message_id": self.next_message_id, "date": int(time.time()),
                       "chat": self.chats.get(chat_id) or {"id": chat_id, "type": "private"},
                       "from": self.bot, "text": text}
            if reply_to is not None:
                message["reply_to_message"] = self._message(int(reply_to))
            self.next_message_id += 1
            self.messages[message["message_id"]] = message
            self.sent.append({"method": "sendMessage", "chat_id": chat_id, "text": text,
                              "message_id": message["message_id"], "reply_to": reply_to,
                              "at": time.time()})
            return message

    def api_sendChatAction(self, params: dict) -> bool:
        with self.changed:
            self.sent.append({"method": "sendChatAction", "chat_id": int(params["chat_id"]),
                              "action": params.get("action"), "at": time.time()})
        return True

    def api_setWebhook(self, params: dict) -> bool:
        with self.changed:
            self.webhook = {"url": str(params.get("url") or ""),
                            "secret_token": str(params.get("secret_token") or "")}
        return True

    def api_deleteWebhook(self, params: dict) -> bool:
        with self.changed:
            self.webhook = {"url": "", "secret_token": ""}
            if str(params.get("drop_pending_updates")).lower() == "true":
                self.updates.clear()
        return True

    def api_getWebhookInfo(self, params: dict) -> dict:
        with self.changed:
            return {"url": self.webhook["url"], "has_custom_certificate": False,
                    "pending_update_count": len(self.updates)}


def _deliver(webhook: dict, update: dict) -> None:
    """POST an update to the bot's webhook, as Telegram does (one try; errors ignored)."""
    headers = {"Content-Type": "application/json"}
    if webhook["secret_token"]:
        headers["X-Telegram-Bot-Api-Secret-Token"] = webhook["secret_token"]
    data = json.dumps(update).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(webhook["url"], data, headers), timeout=60)
    except OSError:
        pass


def _parameters() -> dict:
    """Bot API parameters from a JSON body, a form or the query string."""
    if request.is_json:
        return dict(request.get_json(silent=True) or {})
    params = {**request.args.to_dict(), **request.form.to_dict()}
    for key, value in params.items():
        if key in INT_PARAMETERS:
            params[key] = int(value)
        elif key in JSON_PARAMETERS:
            params[key] = json.loads(value)  # objects come JSON-encoded in form fields
    return params


def create_app(world: TelegramWorld) -> Flask:
    app = Flask(__name__, static_folder=None)

    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        body = {"ok": False, "error_code": error.code, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        return jsonify(body), error.code

    @app.route("/bot<token>/<method>", methods=["GET", "POST"])
    def bot_api(token: str, method: str):
        if world.token is not None and token != world.token:
            raise ApiError(401, "Unauthorized")
        try:
            params = _parameters()
        except ValueError as exc:
            raise ApiError(400, f"Bad Request: {exc}") from None
        return jsonify(ok=True, result=world.call(method, params))

    @app.post("/control/messages")
    def control_message():
        spec = request.get_json(force=True)
        if not isinstance(spec, dict) or "chat_id" not in spec or "text" not in spec:
            raise ApiError(400, "a message needs chat_id and text")
        return jsonify(world.inject(spec))

    @app.post("/control/faults")
    def control_fault():
        spec = request.get_json(force=True)
        fault = world.add_fault(spec if isinstance(spec, dict) else {})
        return jsonify(fault.__dict__)

    @app.delete("/control/faults")
    def control_clear_faults():
        world.clear_faults()
        return jsonify(ok=True)

    @app.get("/control/sent")
    def control_sent():
        chat_id = request.args.get("chat_id", type=int)
        with world.changed:
            events = [e for e in world.sent if chat_id is None or e["chat_id"] == chat_id]
        return jsonify(events=events)

    @app.get("/control/calls")
    def control_calls():
        with world.changed:
            return jsonify(calls=list(world.calls), flood_violations=world.flood_violations,
                           webhook=world.webhook)

    return app


@dataclass
class RunningSandbox:
    url: str  # what TELEGRAM_API_BASE should be
    world: TelegramWorld
    thread: threading.Thread
    _server: object

    def stop(self) -> None:
        self.world.clear_faults()
        self._server.shutdown()
        self.thread.join(timeout=5)


def serve(world: TelegramWorld, port: int = 0) -> RunningSandbox:
    """Serve the stand-in on 127.0.0.1:port (0 = a free port) from a background thread."""
    server = make_server("127.0.0.1", port, create_app(world), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="tg-sandbox", daemon=True)
    thread.start()
    return RunningSandbox(f"http://127.0.0.1:{server.server_port}", world, thread, server)


def add_arguments(parser) -> None:
    parser.add_argument("--port", type=int, default=8002, help="port on 127.0.0.1 (0 = any free)")
    parser.add_argument("--username", default="doppel_bot", help="the bot's @username")
    parser.add_argument("--token", help="accept only this bot token (default: any)")


def run(args) -> int:
    world = TelegramWorld(username=args.username, token=args.token)
    return serve_until_stopped(serve(world, port=args.port), "telegram_sandbox_listening",
                               bot=world.username)
