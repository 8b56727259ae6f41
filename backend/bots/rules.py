"""When the X bot answers a mention, and what it is allowed to say.

Every "no" is a skip reason (a short snake_case word) that the poller records in the
state store and counts. The order of checks matters only for which reason is recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from backend.bots.skips import BLOCKED_INCOMING, OPTED_OUT
from backend.bots.x.client import Tweet
from model.errors import InputError

LEADING_MENTIONS = re.compile(r"^(?:\s*@\w{1,15})+\s*")
MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
OPT_OUT = re.compile(r"^(?:stop|unsubscribe|leave me alone)\W*$", re.IGNORECASE)
OPT_IN = re.compile(r"^(?:start|unstop)\W*$", re.IGNORECASE)


def strip_mentions(text: str) -> str:
    """The text a person wrote, without the @handles X puts in front of replies."""
    return LEADING_MENTIONS.sub("", text).strip()


class Blocklist:
    """Words/phrases (whole-word, case-insensitive) and `re:` regexes, one per line."""

    def __init__(self, patterns: list[re.Pattern]):
        self.patterns = patterns

    @classmethod
    def load(cls, path: str | Path) -> Blocklist:
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"cannot read blocklist: {exc.strerror}", path=str(path)) from None
        patterns = []
        for number, line in enumerate(lines, 1):
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.startswith("re:"):
                try:
                    patterns.append(re.compile(entry[3:], re.IGNORECASE))
                except re.error as exc:
                    raise InputError(f"bad regex: {exc}", path=str(path), line=number) from None
            else:
                words = r"\s+".join(map(re.escape, entry.split()))
                patterns.append(re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE))
        return cls(patterns)

    def blocks(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


@dataclass(frozen=True)
class RuleSettings:
    max_chain_depth: int = 3
    user_replies_per_hour: int = 5
    max_age_s: float = 1800.0

    @classmethod
    def from_config(cls, config: dict) -> RuleSettings:
        return cls(config["x_max_chain_depth"], config["x_user_replies_per_hour"],
                   config["x_max_mention_age_s"])


@dataclass(frozen=True)
class Verdict:
    skip: str | None = None  # the reason, or None to answer
    opt_out: bool | None = None  # True: the author said stop; False: start; None: neither


def chain_depth(thread: list[Tweet], author_id: str, bot_id: str) -> int:
    """How many times the bot already answered this author in this reply chain.

    `thread` is the chain above the mention, nearest parent first.
    """
    return sum(1 for t in thread if t.author_id == bot_id and t.in_reply_to_user_id == author_id)


class Rules:
    def __init__(self, settings: RuleSettings, blocklist: Blocklist):
        self.settings = settings
        self.blocklist = blocklist

    def thread_depth_needed(self, context_tweets: int) -> int:
        """Parents to fetch: the context, and enough of the chain to count bot replies."""
        return max(context_tweets, 2 * self.settings.max_chain_depth)

    def check(self, mention: Tweet, thread: list[Tweet], bot: dict, now: float, state,
              planned_replies: int) -> Verdict:
        """Decide on one mention. `planned_replies`: replies to its author earlier this poll."""
        ignored = self._ignored(mention, bot, now)
        if ignored:
            return Verdict(ignored)
        message = strip_mentions(mention.text)
        if OPT_OUT.match(message):
            return Verdict("opt_out_request", opt_out=True)
        if OPT_IN.match(message):  # "start" lifts an opt-out, then is answered like any mention
            return Verdict(self._reason(mention, message, thread, bot, now, state,
                                        planned_replies), opt_out=False)
        if state.opted_out(mention.author_id):
            return Verdict(OPTED_OUT)
        return Verdict(self._reason(mention, message, thread, bot, now, state, planned_replies))

    def says_stop(self, mention: Tweet, bot: dict, now: float) -> bool:
        """The mention is a "stop" that `check` acts on (opt_out_request)."""
        return (self._ignored(mention, bot, now) is None
                and OPT_OUT.match(strip_mentions(mention.text)) is not None)

    def _ignored(self, mention: Tweet, bot: dict, now: float) -> str | None:
        """Why the mention is none of the bot's business, whatever it says."""
        if mention.author_id == bot["id"]:
            return "own_tweet"
        if mention.retweet:
            return "retweet"
        if bot["username"].lower() not in (m.lower() for m in MENTION.findall(mention.text)):
            return "not_mentioned"
        if mention.created_at is not None and now - mention.created_at > self.settings.max_age_s:
            return "too_old"
        return None

    def _reason(self, mention: Tweet, message: str, thread: list[Tweet], bot: dict, now: float,
                state, planned_replies: int) -> str | None:
        if not message:
            return "empty_mention"
        if self.blocklist.blocks(message):
            return BLOCKED_INCOMING
        recent = state.replies_since(mention.author_id, now - 3600) + planned_replies
        if recent >= self.settings.user_replies_per_hour:
            return "user_hourly_cap"
        if chain_depth(thread, mention.author_id, bot["id"]) >= self.settings.max_chain_depth:
            return "chain_depth"
        return None
