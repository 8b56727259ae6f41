"""The middle of the reply pipeline both bots run: clean the reply, compose, blocklist.

Both bots go claim → compose the context → generate → clean and check against the
blocklist → send → confirm or skip. The ends stay with each network, because what a
send can promise differs: the X poller generates a whole poll's mentions in one batch
and claims each just before posting (a post that may have reached X is settled by the
bot's timeline, backend/bots/x/poller.py); the Telegram bot claims a burst before it
types, and every bubble on its own (backend/bots/telegram/chat.py). The cleaning and
the blocklist check are the same for both and live here; the request is built by
ReplyRequest.from_turns, as the web API builds it; the reasons recorded when a reply
is not sent are skips.py's.
"""

from __future__ import annotations

from collections.abc import Callable

from backend.bots.rules import Blocklist
from backend.bots.skips import BLOCKED_OUTGOING, EMPTY_REPLY
from model.pii import strip_placeholders
from model.serve.runtime import Reply


def outgoing(reply: Reply, blocklist: Blocklist,
             compose: Callable[[list[str]], list[str]] = list) -> tuple[list[str], str | None]:
    """The messages to send for `reply`, or the reason to skip it.

    `compose` turns the cleaned bubbles into what the network is sent (X: one tweet that
    fits; Telegram: the bubbles themselves); the blocklist checks exactly that."""
    bubbles = [text for text in map(strip_placeholders, reply.messages) if text]
    messages = [text for text in compose(bubbles) if text]
    if not messages:
        return [], EMPTY_REPLY
    if any(blocklist.blocks(text) for text in messages):
        return [], BLOCKED_OUTGOING
    return messages, None
