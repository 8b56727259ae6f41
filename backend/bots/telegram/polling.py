"""`python -m backend telegram`: the persona answers Telegram chats by long polling.

The conversation rules and exactly-once delivery are in backend/bots/telegram/chat.py. Here
Telegram itself is the inbox: the getUpdates offset only moves past updates that are
finished, so after a crash the unfinished ones come back and their claims are taken
over. `--once` answers what is waiting and exits; `--dry-run` prints the replies and
confirms nothing; `--set-webhook URL` / `--delete-webhook` switch Telegram between the
webhook route (backend/bots/telegram/webhook.py) and polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys

from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError

from backend.bots.ledger.sqlite import SqliteState
from backend.bots.ledger.stores import open_state
from backend.bots.telegram.api import DryRunApi, TelegramApi, make_bot, retry_seconds
from backend.bots.telegram.chat import ChatBot
from backend.config import load_config
from model.errors import InputError
from model.logs import log_event
from model.serve.load import load_replier

log = logging.getLogger("doppel.telegram")


class Poller:
    """Long polling: the getUpdates offset only moves past finished updates."""

    def __init__(self, bot: Bot, chat: ChatBot, settings: dict, dry_run: bool = False):
        self.bot, self.chat, self.settings, self.dry_run = bot, chat, settings, dry_run
        self.seen: set[int] = set()  # update ids received by this process
        self.highest: int | None = None
        self.stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the replies in hand (waiting bursts too), then return from run()."""
        self.stopping.set()

    def offset(self) -> int | None:
        if self.dry_run or self.highest is None:
            return None  # a dry run confirms nothing, so the updates stay for the real bot
        return min(self.chat.pending(), default=self.highest + 1)

    async def _get_updates(self, timeout: int) -> tuple | None:
        """getUpdates, abandoned (None) when a stop is asked for while it waits."""
        poll = asyncio.ensure_future(self.bot.get_updates(
            offset=self.offset(), timeout=timeout, read_timeout=timeout + 10,
            allowed_updates=["message"]))
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({poll, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not poll.done():
            poll.cancel()  # harmless: the offset never passes an unfinished update
            return None
        return poll.result()

    async def run(self, once: bool = False) -> None:
        failures = 0
        while not self.stopping.is_set():
            waiting = bool(self.chat.pending())
            timeout = 0 if (waiting or once) else int(self.settings["telegram_poll_timeout_s"])
            try:
                updates = await self._get_updates(timeout)
                failures = 0
            except InvalidToken:
                raise
            except TelegramError as error:  # 5xx, flood limit, a second poller (409)
                failures += 1
                pause = retry_seconds(error) if isinstance(error, RetryAfter) \
                    else min(self.settings["telegram_backoff_s"] * 2 ** failures, 60.0)
                log_event(log, "get_updates_failed", logging.WARNING, detail=str(error),
                          wait_s=round(pause, 1))
                with contextlib.suppress(TimeoutError):  # a stop ends the pause
                    await asyncio.wait_for(self.stopping.wait(), pause)
                continue
            if updates is None:
                break
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
            elif self.dry_run and not fresh:
                await asyncio.sleep(1.0)  # unconfirmed updates come back at once: don't spin
        log_event(log, "stopping", note="answering the messages in hand first")
        await self.chat.flush(force=True)


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
        replier = load_replier(settings["bundle"], guard=settings["memorisation_guard"])
        state = SqliteState(":memory:") if args.dry_run else open_state(settings["telegram_state"])
        chat = ChatBot(bot.bot, replier, state, settings,
                       DryRunApi() if args.dry_run else TelegramApi(
                           bot, settings["telegram_retry_attempts"], settings["telegram_backoff_s"]))
        if not args.dry_run:
            await bot.delete_webhook()  # getUpdates and a webhook exclude each other
        print(json.dumps({"event": "telegram_bot_polling", "bot": bot.bot.username,
                          "model": replier.name, "personas": replier.personas}), flush=True)
        poller = Poller(bot, chat, settings, args.dry_run)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, poller.stop)
        try:
            await poller.run(once=args.once)
        finally:
            state.close()
    return 0


def run(args) -> int:
    overrides = {"bundle": args.bundle} if args.bundle else None
    settings = load_config(overrides)
    try:
        return asyncio.run(_main(settings, args))
    except InvalidToken as error:
        raise InputError(f"Telegram refused TELEGRAM_BOT_TOKEN ({error})") from None
    except TelegramError as error:  # at start-up; once polling, errors are retried
        print(f"error: Telegram Bot API at {settings['telegram_api_base']}: {error}",
              file=sys.stderr)
        return 1
