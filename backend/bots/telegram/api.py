"""Talking to the Telegram Bot API: the calls the bot makes, their errors and retries.

The one place that knows Telegram's error rules: a flood limit (429 + retry_after) is
waited out exactly as long as told; 5xx and connection errors are retried with
exponential back-off; a chat that blocked the bot (403) becomes `Blocked`, never
retried; a bad request, a bad token or a migrated chat is raised at once (trying again
cannot help). A send that timed out may have reached the chat, so it is never retried:
it becomes `SendUnconfirmed`.
"""

from __future__ import annotations

import json
import logging
import warnings
from datetime import timedelta
from functools import partial

import tenacity
from telegram import Bot, ReplyParameters
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from model.errors import InputError
from model.logs import log_event

log = logging.getLogger("doppel.telegram")


class Blocked(Exception):
    """The chat blocked the bot (403): record it, never retry."""


class SendUnconfirmed(Exception):
    """A send timed out after the request went out, so the message may be in the chat.
    Telegram offers no way to check: it is recorded as unconfirmed, never sent again."""


def retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB warns that the type will become timedelta
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _worth_retrying(error: BaseException, idempotent: bool) -> bool:
    if isinstance(error, Blocked | BadRequest | InvalidToken | ChatMigrated):
        return False  # trying again cannot help
    if isinstance(error, TimedOut):
        return idempotent  # the message may have gone out: never send it twice
    return isinstance(error, TelegramError)  # 5xx, connection errors, flood limits


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    log_event(log, "telegram_call_retry", logging.WARNING, attempt=retry_state.attempt_number,
              wait_s=round(retry_state.upcoming_sleep, 1))


class TelegramApi:
    """The Bot API calls the bot makes, with Telegram's flood and error rules applied."""

    def __init__(self, bot: Bot, attempts: int, backoff_s: float):
        self.bot, self.attempts, self.backoff_s = bot, max(attempts, 1), backoff_s

    async def _call(self, make_call, idempotent: bool):
        async def attempt():
            try:
                return await make_call()
            except Forbidden as error:
                raise Blocked(str(error)) from error

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            retry=tenacity.retry_if_exception(partial(_worth_retrying, idempotent=idempotent)),
            wait=self._wait, before_sleep=_log_retry, reraise=True)
        return await retrying(attempt)

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception()
        if isinstance(error, RetryAfter):
            return retry_seconds(error)  # a flood limit: wait exactly as long as told
        return self.backoff_s * 2 ** (retry_state.attempt_number - 1)

    async def send(self, chat_id: int, text: str, reply_to: int | None = None) -> int:
        parameters = ReplyParameters(reply_to, allow_sending_without_reply=True) \
            if reply_to is not None else None
        try:
            message = await self._call(lambda: self.bot.send_message(
                chat_id, text, reply_parameters=parameters), idempotent=False)
        except TimedOut as error:
            raise SendUnconfirmed(str(error)) from error
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


def make_bot(settings: dict) -> Bot:
    token = settings["telegram_bot_token"]
    if not token:
        raise InputError("TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave the bot; "
                         "any value works against the local telegram-sandbox)")
    timeout = settings["telegram_request_timeout_s"]
    return Bot(token, base_url=settings["telegram_api_base"].rstrip("/") + "/bot",
               request=HTTPXRequest(connect_timeout=timeout, read_timeout=timeout),
               get_updates_request=HTTPXRequest(connect_timeout=timeout, read_timeout=timeout))
