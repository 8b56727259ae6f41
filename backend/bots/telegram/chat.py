"""The Telegram channel's conversation logic, shared by long polling and the webhook.

In private chats every text message is answered; in groups only messages that mention
the bot (@username) or reply to it. A chat's updates are handled in the order sent.
Messages one person sends in a quick burst (the burst window, measured on the messages'
own dates, so a backlog read at once keeps the sender's timing) are answered as one
turn, like the chat page does; a command ends a burst. A reply with `<brk>` goes out as
several messages with a typing action between them. Commands: /persona [NAME] lists or
switches personas, /forget clears the chat's context, /stop and /start opt the chat out
and back in. After a /stop nothing but command answers goes to the chat, not even the
answer to a message sent before the /stop: the opt-out is read before a reply is made
and again before each of its bubbles is sent.

Exactly-once: every update is claimed in the ledger (backend/bots/ledger/, keyed
`tg<bot id>:<update id>`) before anything is sent, and each bubble is claimed and
confirmed on its own (`...#<n>`). A claim older than the claim timeout (its process
died) is taken over and the reply resumes at the first bubble not yet sent; replies are
seeded by the update id, so the resumed reply is the one that was started. A bubble
whose send was in flight during a crash is never sent twice (at-most-once, as the X
bot). A chat that blocked the bot (403) is recorded and not retried; Telegram's other
errors and the retries are api.py's. Chat context and persona choices live in process memory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from telegram import Update, User
from telegram.error import (
    TelegramError,
)

from backend.bots.ledger.records import CLAIMED
from backend.bots.replies import outgoing
from backend.bots.rules import Blocklist
from backend.bots.skips import BLOCKED_INCOMING, MODEL_ERROR, OPTED_OUT
from backend.bots.telegram.api import Blocked, SendUnconfirmed
from backend.web.sessions import SessionStore, Turn
from model.logs import log_event
from model.serve.runtime import Replier, ReplyRequest, UnknownPersona
from model.text import BRK_JOIN

log = logging.getLogger("doppel.telegram")
COMMANDS = ("start", "stop", "forget", "persona", "help")


class Skip(Exception):
    """Nothing to send for these messages; the argument is the recorded reason."""


@dataclass
class Incoming:
    """One user message the bot has to act on."""

    update_id: int
    chat_id: int
    user_id: int
    message_id: int
    text: str  # the bot's @mention removed
    group: bool
    sent_at: float  # the message's date (Telegram's, whole seconds)
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
                user_id=message.from_user.id, message_id=message.message_id, group=group,
                sent_at=message.date.timestamp())
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


@dataclass
class Burst:
    """One turn waiting to be answered: messages answered together, or one command."""

    items: list[Incoming]
    arrived: float  # monotonic time the latest message reached us
    closed: bool = False  # nothing more joins it: a command, or the next message did not

    @property
    def command(self) -> str | None:
        return self.items[0].command

    def takes(self, item: Incoming, window: float) -> bool:
        """The same person's next text, sent within the window after the last one."""
        last = self.items[-1]
        return (not self.closed and item.command is None and item.user_id == last.user_id
                and item.sent_at - last.sent_at <= window)

    def ready(self, window: float) -> bool:
        """Nothing more can join: closed, or the window passed with no new message."""
        return self.closed or time.monotonic() - self.arrived >= window


class ChatBot:
    """Turns incoming messages into replies; transport-free (polling and webhook share it)."""

    def __init__(self, me: User, replier: Replier, state, settings: dict, api=None):
        self.me, self.replier, self.state, self.settings, self.api = \
            me, replier, state, settings, api
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sessions = SessionStore(100_000, 7 * 86400, settings["telegram_context_turns"])
        self.personas: dict[int, str] = {}  # chat id -> chosen persona
        self.default_persona = replier.persona_name(settings["telegram_persona"] or None)
        self.bursts: dict[int, list[Burst]] = {}  # chat id -> its turns waiting, in order
        self.blocklist = Blocklist.load(settings["telegram_blocklist"])

    def key(self, update_id: int) -> str:
        return f"tg{self.me.id}:{update_id}"

    def pending(self) -> list[int]:
        """Update ids still waiting in a burst (the offset must not pass them)."""
        return [item.update_id for queue in self.bursts.values() for burst in queue
                for item in burst.items]

    def next_flush_in(self) -> float:
        """Seconds until a chat's first waiting turn may be answered."""
        now, window = time.monotonic(), self.settings["telegram_burst_s"]
        return min((0.0 if queue[0].closed else queue[0].arrived + window - now
                    for queue in self.bursts.values()), default=window)

    async def receive(self, update: Update) -> None:
        item = parse_update(update, self.me)
        if item is None:
            return
        record = self.state.mention(self.key(item.update_id))
        if record is not None and record.status != CLAIMED:
            return  # finished before (a redelivery after a restart)
        queue = self.bursts.setdefault(item.chat_id, [])
        if any(i.update_id == item.update_id for burst in queue for i in burst.items):
            return  # delivered again while it waits
        if queue and queue[-1].takes(item, self.settings["telegram_burst_s"]):
            queue[-1].items.append(item)
            queue[-1].arrived = time.monotonic()
            return
        if queue:
            queue[-1].closed = True
        queue.append(Burst([item], time.monotonic(), closed=item.command is not None))

    async def flush(self, force: bool = False) -> None:
        """Answer each chat's waiting turns in order, up to the first one still open to more
        messages (all of them with `force`) or one that cannot be delivered yet."""
        window = self.settings["telegram_burst_s"]
        for chat_id, queue in list(self.bursts.items()):
            while queue and (force or queue[0].ready(window)):
                queue[0].closed = True
                if not await self.deliver(queue[0]):
                    break
                queue.pop(0)
            if not queue:
                del self.bursts[chat_id]

    def quiet(self, chat_id: int) -> bool:
        """The chat said /stop: stored, or waiting in its queue (a /stop covers the
        messages sent before it that are not answered yet)."""
        return (self.state.opted_out(f"tg:{chat_id}")
                or any(burst.command == "stop" for burst in self.bursts.get(chat_id, ())))

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
            log_event(log, "claim_taken_over", update=item.update_id, previous_owner=record.owner)
            return "won"
        return "busy"

    async def deliver(self, burst: Burst) -> bool:
        """Claim, compose, send and confirm; False to try again later (another process
        holds a claim, or Telegram could not be reached)."""
        outcomes = [self.claim(item) for item in burst.items]
        if "busy" in outcomes:
            return False
        items = [item for item, outcome in zip(burst.items, outcomes, strict=True)
                 if outcome == "won"]
        if not items:
            return True
        lead, chat_id, now = items[0], items[0].chat_id, time.time()
        compose = self.run_command if burst.command else self.generate
        try:
            bubbles, turns = await compose(items)
            sent = await self.send_bubbles(lead, bubbles, reply_to=items[-1].message_id
                                           if lead.group else None, answer=not burst.command)
        except (Blocked, Skip) as error:
            reason = "blocked" if isinstance(error, Blocked) else str(error)
            log_event(log, "skipped", logging.WARNING, chat=chat_id, reason=reason)
            for item in items:
                self.state.skip(self.key(item.update_id), f"tg:{chat_id}", reason, time.time())
            return True
        except TelegramError as error:  # retries exhausted; the claims stay ours
            log_event(log, "telegram_unreachable", logging.ERROR, chat=chat_id, detail=str(error))
            return False
        if turns:
            self.sessions.record(str(chat_id), turns)
        for index, item in enumerate(items):
            reply_id = sent if index == 0 else None
            self.state.confirm(self.key(item.update_id), reply_id, now,
                               reason=None if index == 0 else f"burst:{lead.update_id}")
        log_event(log, "replied", chat=chat_id, updates=[i.update_id for i in items],
                  bubbles=len(bubbles))
        return True

    async def send_bubbles(self, lead: Incoming, bubbles: list[str], reply_to: int | None,
                           answer: bool) -> str | None:
        """Send each bubble not sent before; returns the first bubble's message id.
        `answer`: a reply to what the user said, which a /stop meanwhile cancels (a
        command's answer, /stop's own included, always goes)."""
        chat_id, author, first_id = lead.chat_id, f"tg:{lead.chat_id}", None
        for index, text in enumerate(bubbles):
            key = f"{self.key(lead.update_id)}#{index}"
            record = self.state.mention(key)
            if record is not None:
                if record.status == CLAIMED:
                    log_event(log, "bubble_unconfirmed", logging.WARNING, bubble=key)
                first_id = first_id or record.reply_id
                continue
            if index > 0:
                await self.api.typing(chat_id)
                await asyncio.sleep(self.settings["telegram_typing_s"])
            if answer and self.quiet(chat_id):  # said while the reply was made or typed
                raise Skip(OPTED_OUT)
            self.state.claim(key, author, self.owner, time.time())
            try:
                message_id = await self.api.send(chat_id, text, reply_to if index == 0 else None)
            except Blocked:
                self.state.skip(key, author, "blocked", time.time())
                raise
            except SendUnconfirmed as error:  # left claimed: at most once, as after a crash
                log_event(log, "bubble_unconfirmed", logging.WARNING, bubble=key,
                          detail=str(error))
                continue
            except TelegramError as error:
                log_event(log, "bubble_not_sent", logging.ERROR, bubble=key, detail=str(error))
                self.state.skip(key, author, f"send_failed: {error}"[:200], time.time())
                continue
            self.state.confirm(key, str(message_id), time.time())
            first_id = first_id or str(message_id)
        return first_id

    async def generate(self, items: list[Incoming]) -> tuple[list[str], list[Turn]]:
        """The persona's reply to a burst given the chat's recent turns; the two new turns."""
        chat_id, lead = items[0].chat_id, items[0]
        if self.quiet(chat_id):
            raise Skip(OPTED_OUT)
        await self.api.typing(chat_id)
        history = self.sessions.history(str(chat_id))
        message = BRK_JOIN.join(item.text for item in items)
        if self.blocklist.blocks(message):
            raise Skip(BLOCKED_INCOMING)
        persona = self.personas.get(chat_id, self.default_persona)
        request = ReplyRequest.from_turns(
            message, history, persona,
            {**self.settings["telegram_decoding"], "seed": lead.update_id})
        try:
            reply = self.replier.reply_batch([request])[0]
        except Exception as error:  # a model failure skips this message, not the bot
            log_event(log, "model_failed", logging.ERROR, exc_info=True, chat=chat_id)
            raise Skip(MODEL_ERROR) from error
        bubbles, skip = outgoing(reply, self.blocklist)
        if skip:
            raise Skip(skip)
        return bubbles, [(message, None), (reply.text, reply.persona)]

    async def run_command(self, items: list[Incoming]) -> tuple[list[str], list[Turn]]:
        return [self.command_text(items[0])], []

    def command_text(self, item: Incoming) -> str:
        """Do what a command asks (idempotent, as a retry may repeat it) and say so."""
        command, chat_id, now = item.command, item.chat_id, time.time()
        if command == "stop":
            self.state.set_opted_out(f"tg:{chat_id}", True, now)
            return "Okay, I'll stay quiet here. Send /start to talk again."
        if command == "start":
            self.state.set_opted_out(f"tg:{chat_id}", False, now)
            return f"Hi! I'm {self.personas.get(chat_id, self.default_persona)}. Say something."
        if command == "forget":
            self.sessions.forget(str(chat_id))
            return "Done, I forgot our conversation."
        if command == "persona":
            return self.switch_persona(chat_id, item.argument)
        return ("Talk to me. /persona lists who I can be, /forget clears our chat, "
                "/stop makes me quiet, /start brings me back.")

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
