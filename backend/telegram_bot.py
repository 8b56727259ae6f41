"""`python -m backend telegram`: the persona answers Telegram chats (long polling).

In private chats every text message is answered; in groups only messages that mention
the bot (@username) or reply to it. Messages one person sends in a quick burst (the
burst window) are answered as one turn, like the chat page does. A reply with `<brk>`
goes out as several messages with a typing action between them. Commands: /persona
[NAME] lists or switches personas, /forget clears the chat's context, /stop and /start
opt the chat out and back in.

Exactly-once: every update is claimed in the state store (backend/state.py, keyed
`tg<bot id>:<update id>`) before anything is sent, and each bubble is claimed and
confirmed on its own (`...#<n>`). Telegram itself is the inbox: the getUpdates offset
only moves past updates that are finished, so after a crash the unfinished ones come
back; a claim older than the claim timeout is taken over and the reply resumes at the
first bubble not yet sent. A bubble whose send was in flight during the crash is never
sent twice (at-most-once, as the X bot). Replies are seeded by the update id, so the
resumed reply is the one that was started. Flood limits (429 + retry_after) are waited
out; a chat that blocked the bot (403) is recorded and not retried.

The webhook variant (backend/telegram_webhook.py) feeds updates to the same ChatBot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field

from telegram import Bot, ReplyParameters, Update, User
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from backend.config import load_config
from backend.rules import Blocklist, clean_reply
from backend.sessions import SessionStore
from backend.state import CLAIMED, SqliteState, open_state
from model.errors import InputError
from model.runtime import Replier, ReplyRequest, UnknownPersona

log = logging.getLogger("backend.telegram")
COMMANDS = ("start", "stop", "forget", "persona", "help")
BRK = " <brk> "


class Blocked(Exception):
    """The chat blocked the bot (403): record it, never retry."""


class Skip(Exception):
    """Nothing to send for these messages; the argument is the recorded reason."""


def retry_seconds(error: RetryAfter) -> float:
    value = error._retry_after  # a timedelta; the public attribute warns about its type
    return value.total_seconds()


@dataclass
class Incoming:
    """One user message the bot has to act on."""

    update_id: int
    chat_id: int
    user_id: int
    message_id: int
    text: str  # the bot's @mention removed
    group: bool
    command: str | None = None  # start | stop | forget | persona | help
    argument: str = ""


def parse_update(update: Update, me: User) -> Incoming | None:
    """The message in `update` if the bot should act on it, else None."""
    message = update.message
    if message is None or not message.text or message.from_user is None \
            or message.from_user.is_bot:
        return None
    group = message.chat.type != "private"
    handle = f"@{me.username}".lower()
    text = message.text.strip()
    base = dict(update_id=update.update_id, chat_id=message.chat.id,
                user_id=message.from_user.id, message_id=message.message_id, group=group)
    if text.startswith("/"):
        word, _, argument = text.partition(" ")
        name, _, target = word[1:].partition("@")
        if (target and f"@{target}".lower() != handle) or name.lower() not in COMMANDS:
            return None  # another bot's command, or one we do not know
        return Incoming(**base, text=text, command=name.lower(), argument=argument.strip())
    mentioned = any(value.lower() == handle
                    for value in message.parse_entities(["mention"]).values())
    replied = (message.reply_to_message is not None
               and message.reply_to_message.from_user is not None
               and message.reply_to_message.from_user.id == me.id)
    if group and not (mentioned or replied):
        return None
    cleaned = " ".join(w for w in text.split() if w.lower().rstrip(",:") != handle)
    return Incoming(**base, text=cleaned) if cleaned else None


class TelegramApi:
    """The Bot API calls the bot makes, with Telegram's flood and error rules applied."""

    def __init__(self, bot: Bot, attempts: int, backoff_s: float):
        self.bot, self.attempts, self.backoff_s = bot, attempts, backoff_s

    async def _call(self, make_call, idempotent: bool):
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                return await make_call()
            except RetryAfter as error:  # flood limit: wait exactly as told, then retry
                if last:
                    raise
                log.warning("flood limit: waiting %.1f s as Telegram asks", retry_seconds(error))
                await asyncio.sleep(retry_seconds(error))
            except Forbidden as error:
                raise Blocked(str(error)) from error
            except BadRequest:
                raise
            except TimedOut:
                if last or not idempotent:
                    raise  # a message may have gone out: never send it twice
                await asyncio.sleep(self.backoff_s * 2 ** attempt)
            except TelegramError as error:  # 5xx and connection errors
                if last or "Unauthorized" in str(error) or "Not Found" in str(error):
                    raise
                log.warning("Telegram error (%s); retrying", error)
                await asyncio.sleep(self.backoff_s * 2 ** attempt)
        raise AssertionError("unreachable")

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        parameters = ReplyParameters(reply_to, allow_sending_without_reply=True) \
            if reply_to is not None else None
        message = await self._call(lambda: self.bot.send_message(
            chat_id, text, reply_parameters=parameters), idempotent=False)
        return message.message_id

    async def typing(self, chat_id: int) -> None:
        await self._call(lambda: self.bot.send_chat_action(chat_id, "typing"), idempotent=True)


class DryRunApi:
    """Prints what would be sent instead of sending it."""

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        print(json.dumps({"would_send": text, "chat_id": chat_id, "reply_to": reply_to},
                         ensure_ascii=False), flush=True)
        return 0

    async def typing(self, chat_id: int) -> None:
        return None


@dataclass
class Burst:
    items: list[Incoming] = field(default_factory=list)
    last_at: float = 0.0  # monotonic time of the latest message


class ChatBot:
    """Turns incoming messages into replies; transport-free (polling and webhook share it)."""

    def __init__(self, me: User, replier: Replier, state, settings: dict, api=None):
        self.me, self.replier, self.state, self.settings, self.api = \
            me, replier, state, settings, api
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sessions = SessionStore(100_000, 7 * 86400, settings["telegram_context_turns"])
        self.personas: dict[int, str] = {}  # chat id -> chosen persona
        self.default_persona = replier.persona_name(settings["telegram_persona"] or None)
        self.bursts: dict[tuple[int, int], Burst] = {}  # (chat, user) -> messages waiting
        self.blocklist = Blocklist.load(settings["telegram_blocklist"])

    def key(self, update_id: int) -> str:
        return f"tg{self.me.id}:{update_id}"

    def pending(self) -> list[int]:
        """Update ids still waiting in a burst (the offset must not pass them)."""
        return [item.update_id for burst in self.bursts.values() for item in burst.items]

    def next_flush_in(self) -> float:
        now, window = time.monotonic(), self.settings["telegram_burst_s"]
        return min((b.last_at + window - now for b in self.bursts.values()), default=window)

    async def receive(self, update: Update) -> None:
        item = parse_update(update, self.me)
        if item is None:
            return
        record = self.state.mention(self.key(item.update_id))
        if record is not None and record.status != CLAIMED:
            return  # finished before (a redelivery after a restart)
        if item.command:
            await self.deliver([item], self.run_command)
        elif self.state.opted_out(f"tg:{item.chat_id}"):
            self.state.skip(self.key(item.update_id), f"tg:{item.chat_id}", "opted_out",
                            time.time())
        else:
            burst = self.bursts.setdefault((item.chat_id, item.user_id), Burst())
            if all(i.update_id != item.update_id for i in burst.items):
                burst.items.append(item)
            burst.last_at = time.monotonic()

    async def flush(self, force: bool = False) -> None:
        """Answer every burst whose window has passed (all of them with `force`)."""
        for chat_user, burst in list(self.bursts.items()):
            ready = force or time.monotonic() - burst.last_at >= self.settings["telegram_burst_s"]
            if ready and await self.deliver(burst.items, self.generate):
                del self.bursts[chat_user]

    def claim(self, item: Incoming) -> str:
        """'won' (ours to answer), 'finished' (answered before) or 'busy' (another holds it)."""
        key, author, now = self.key(item.update_id), f"tg:{item.chat_id}", time.time()
        if self.state.claim(key, author, self.owner, now):
            return "won"
        record = self.state.mention(key)
        if record is None or record.status != CLAIMED:
            return "finished"
        if record.owner == self.owner:
            return "won"
        stale = record.claimed_at < now - self.settings["telegram_claim_timeout_s"]
        if stale and self.state.take_over(record, self.owner, now):
            log.info("taking over update %s from %s after a crash", item.update_id, record.owner)
            return "won"
        return "busy"

    async def deliver(self, items: list[Incoming], make_bubbles) -> bool:
        """Claim, compose, send and confirm; False when another process holds a claim."""
        outcomes = [self.claim(item) for item in items]
        if "busy" in outcomes:
            return False
        items = [item for item, outcome in zip(items, outcomes, strict=True) if outcome == "won"]
        if not items:
            return True
        lead, chat_id, now = items[0], items[0].chat_id, time.time()
        try:
            bubbles = await make_bubbles(items)
            sent = await self.send_bubbles(lead, bubbles, reply_to=items[-1].message_id
                                           if lead.group else None)
        except (Blocked, Skip) as error:
            reason = "blocked" if isinstance(error, Blocked) else str(error)
            log.warning("chat %s: not answered (%s)", chat_id, reason)
            for item in items:
                self.state.skip(self.key(item.update_id), f"tg:{chat_id}", reason, time.time())
            return True
        for index, item in enumerate(items):
            reply_id = sent if index == 0 else None
            self.state.confirm(self.key(item.update_id), reply_id, now,
                               reason=None if index == 0 else f"burst:{lead.update_id}")
        log.info("answered chat %s (updates %s) with %d bubble(s)", chat_id,
                 [i.update_id for i in items], len(bubbles))
        return True

    async def send_bubbles(self, lead: Incoming, bubbles: list[str],
                           reply_to: int | None) -> str | None:
        """Send each bubble not sent before; returns the first bubble's message id."""
        chat_id, author, first_id = lead.chat_id, f"tg:{lead.chat_id}", None
        for index, text in enumerate(bubbles):
            key = f"{self.key(lead.update_id)}#{index}"
            record = self.state.mention(key)
            if record is not None:
                if record.status == CLAIMED:
                    log.warning("bubble %s may have gone out before a crash; not resending", key)
                first_id = first_id or record.reply_id
                continue
            if index > 0:
                await self.api.typing(chat_id)
                await asyncio.sleep(self.settings["telegram_typing_s"])
            self.state.claim(key, author, self.owner, time.time())
            try:
                message_id = await self.api.send(chat_id, text, reply_to if index == 0 else None)
            except Blocked:
                self.state.skip(key, author, "blocked", time.time())
                raise
            except TelegramError as error:
                log.error("bubble %s not sent: %s", key, error)
                self.state.skip(key, author, f"send_failed: {error}"[:200], time.time())
                continue
            self.state.confirm(key, str(message_id), time.time())
            first_id = first_id or str(message_id)
        return first_id

    async def generate(self, items: list[Incoming]) -> list[str]:
        """The persona's reply to a burst, given the chat's recent turns."""
        chat_id, lead = items[0].chat_id, items[0]
        await self.api.typing(chat_id)
        history = self.sessions.history(str(chat_id))
        message = BRK.join(item.text for item in items)
        if self.blocklist.blocks(message):
            raise Skip("blocked_incoming")
        speakers = [speaker for _, speaker in history] + [None]
        persona = self.personas.get(chat_id, self.default_persona)
        decoding = {**self.settings["telegram_decoding"], "seed": lead.update_id}
        request = ReplyRequest(message, [text for text, _ in history], persona, decoding,
                               speakers if any(speakers) else None)
        reply = self.replier.reply_batch([request])[0]
        bubbles = [text for text in map(clean_reply, reply.messages) if text]
        if not bubbles:
            raise Skip("empty_reply")
        if any(self.blocklist.blocks(text) for text in bubbles):
            raise Skip("blocked_outgoing")
        self.sessions.record(str(chat_id), [(message, None), (reply.text, reply.persona)])
        return bubbles

    async def run_command(self, items: list[Incoming]) -> list[str]:
        command, chat_id, now = items[0].command, items[0].chat_id, time.time()
        if command == "stop":
            self.state.set_opted_out(f"tg:{chat_id}", True, now)
            return ["Okay, I'll stay quiet here. Send /start to talk again."]
        if command == "start":
            self.state.set_opted_out(f"tg:{chat_id}", False, now)
            return [f"Hi! I'm {self.personas.get(chat_id, self.default_persona)}. Say something."]
        if command == "forget":
            self.sessions.forget(str(chat_id))
            return ["Done, I forgot our conversation."]
        if command == "persona":
            return [self.switch_persona(chat_id, items[0].argument)]
        return ["Talk to me. /persona lists who I can be, /forget clears our chat, "
                "/stop makes me quiet, /start brings me back."]

    def switch_persona(self, chat_id: int, name: str) -> str:
        current = self.personas.get(chat_id, self.default_persona)
        if not name:
            if len(self.replier.personas) == 1:
                return f"I only know how to be {current}."
            return (f"I'm {current}. I can also be: "
                    f"{', '.join(p for p in self.replier.personas if p != current)}. "
                    "Switch with /persona NAME.")
        try:
            self.personas[chat_id] = self.replier.persona_name(name)
        except UnknownPersona as error:
            return str(error)
        self.sessions.forget(str(chat_id))
        return f"Now talking as {self.personas[chat_id]}."


class Poller:
    """Long polling: the getUpdates offset only moves past finished updates."""

    def __init__(self, bot: Bot, chat: ChatBot, settings: dict, dry_run: bool = False):
        self.bot, self.chat, self.settings, self.dry_run = bot, chat, settings, dry_run
        self.seen: set[int] = set()  # update ids received by this process
        self.highest: int | None = None

    def offset(self) -> int | None:
        if self.dry_run or self.highest is None:
            return None  # a dry run confirms nothing, so the updates stay for the real bot
        return min(self.chat.pending(), default=self.highest + 1)

    async def run(self, once: bool = False) -> None:
        failures = 0
        while True:
            waiting = bool(self.chat.pending())
            timeout = 0 if (waiting or once) else int(self.settings["telegram_poll_timeout_s"])
            try:
                updates = await self.bot.get_updates(
                    offset=self.offset(), timeout=timeout, read_timeout=timeout + 10,
                    allowed_updates=["message"])
                failures = 0
            except InvalidToken:
                raise
            except TelegramError as error:  # 5xx, flood limit, a second poller (409)
                failures += 1
                pause = retry_seconds(error) if isinstance(error, RetryAfter) \
                    else min(self.settings["telegram_backoff_s"] * 2 ** failures, 60.0)
                log.warning("getUpdates failed (%s); next try in %.1f s", error, pause)
                await asyncio.sleep(pause)
                continue
            fresh = [u for u in updates if u.update_id not in self.seen]
            for update in fresh:
                self.seen.add(update.update_id)
                self.highest = max(self.highest or 0, update.update_id)
                await self.chat.receive(update)
            await self.chat.flush()
            if self.offset() is not None:
                self.seen = {uid for uid in self.seen if uid >= self.offset()}
            if self.chat.pending():
                await asyncio.sleep(min(max(self.chat.next_flush_in(), 0.05), 0.25))
            elif once and not fresh:
                return


def make_bot(settings: dict) -> Bot:
    token = settings["telegram_bot_token"]
    if not token:
        raise InputError("TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave the bot; "
                         "any value works against the local telegram-sandbox)")
    timeout = settings["telegram_request_timeout_s"]
    return Bot(token, base_url=settings["telegram_api_base"].rstrip("/") + "/bot",
               request=HTTPXRequest(connect_timeout=timeout, read_timeout=timeout),
               get_updates_request=HTTPXRequest(connect_timeout=timeout, read_timeout=timeout))


def add_arguments(parser) -> None:
    parser.add_argument("--once", action="store_true",
                        help="answer what is waiting, then exit (for cron or a scheduler)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print replies instead of sending them; confirm and record nothing")
    parser.add_argument("--bundle", help="model bundle (default: DOPPEL_BUNDLE or the demo)")
    parser.add_argument("--set-webhook", metavar="URL",
                        help="point Telegram at this webhook URL (with TELEGRAM_WEBHOOK_SECRET), "
                             "then exit")
    parser.add_argument("--delete-webhook", action="store_true",
                        help="remove the webhook (back to long polling), then exit")


async def _webhook_command(bot: Bot, settings: dict, args) -> int:
    if args.delete_webhook:
        await bot.delete_webhook()
        print(json.dumps({"event": "telegram_webhook_deleted"}), flush=True)
        return 0
    if not settings["telegram_webhook_secret"]:
        raise InputError("--set-webhook needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)")
    await bot.set_webhook(args.set_webhook, secret_token=settings["telegram_webhook_secret"],
                          allowed_updates=["message"])
    print(json.dumps({"event": "telegram_webhook_set", "url": args.set_webhook}), flush=True)
    return 0


async def _main(settings: dict, args) -> int:
    async with make_bot(settings) as bot:
        if args.set_webhook or args.delete_webhook:
            return await _webhook_command(bot, settings, args)
        replier = Replier.load(settings["bundle"])
        state = SqliteState(":memory:") if args.dry_run else open_state(settings["telegram_state"])
        chat = ChatBot(bot.bot, replier, state, settings,
                       DryRunApi() if args.dry_run else TelegramApi(
                           bot, settings["telegram_retry_attempts"], settings["telegram_backoff_s"]))
        if not args.dry_run:
            await bot.delete_webhook()  # getUpdates and a webhook exclude each other
        print(json.dumps({"event": "telegram_bot_polling", "bot": bot.bot.username,
                          "model": replier.name, "personas": replier.personas}), flush=True)
        task = asyncio.current_task()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await Poller(bot, chat, settings, args.dry_run).run(once=args.once)
        except asyncio.CancelledError:
            log.info("stopping on SIGTERM")
        finally:
            state.close()
    return 0


def run(args) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    overrides = {"bundle": args.bundle} if args.bundle else None
    settings = load_config(overrides)
    return asyncio.run(_main(settings, args))
