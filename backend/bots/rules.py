"""When the X bot answers a mention, and what it is allowed to say.

Every "no" is a skip reason (a short snake_case word) that the poller records in the
state store and counts. The order of checks matters only for which reason is recorded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from backend.bots.skips import BLOCKED_INCOMING, OPTED_OUT
from backend.bots.x.client import Tweet
from model.errors import InputError

LEADING_MENTIONS = re.compile(r"^(?:\s*@\w{1,15})+\s*")
MENTION = re.compile(r"(?<![\w@])@(\w{1,15})")
OPT_OUT = re.compile(r"^(?:stop|unsubscribe|leave me alone)\W*$", re.IGNORECASE)
OPT_IN = re.compile(r"^(?:start|unstop)\W*$", re.IGNORECASE)
# Digits and symbols that stand for letters (k1ll, r@pe), read as letters only inside a
# word, next to a letter: "1488", "8 pm" or "4 u" stay as they are.
LEET = str.maketrans("013457@$", "oieastas")
LEET_IN_WORD = re.compile(r"(?<=[^\W\d_])[013457@$]|[013457@$](?=[^\W\d_])")


def strip_mentions(text: str) -> str:
    """The text a person wrote, without the @handles X puts in front of replies."""
    return LEADING_MENTIONS.sub("", text).strip()


def normalise(text: str) -> str:
    """Text as the blocklist reads it: compatibility forms folded (full-width ＡＢＣ, ligatures,
    styled math letters), case folded, and invisible format characters (zero-width space
    and joiners, soft hyphen, BOM) dropped, so none of them slips a word past a pattern."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


class Blocklist:
    """Words/phrases (whole-word, case-insensitive) and `re:` regexes, one per line; both
    match the normalised text, and the same text with in-word leetspeak read as letters."""

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
                words = r"\s+".join(map(re.escape, normalise(entry).split()))
                patterns.append(re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE))
        return cls(patterns)

    def blocks(self, text: str) -> bool:
        plain = normalise(text)
        readings = {plain, LEET_IN_WORD.sub(lambda m: m[0].translate(LEET), plain)}
        return any(p.search(reading) for p in self.patterns for reading in readings)


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
        if OPT_OUT.match(normalise(message)):
            return Verdict("opt_out_request", opt_out=True)
        if OPT_IN.match(normalise(message)):  # "start" lifts an opt-out, then is answered like any mention
            return Verdict(self._reason(mention, message, thread, bot, now, state,
                                        planned_replies), opt_out=False)
        if state.opted_out(mention.author_id):
            return Verdict(OPTED_OUT)
        return Verdict(self._reason(mention, message, thread, bot, now, state, planned_replies))

    def says_stop(self, mention: Tweet, bot: dict, now: float) -> bool:
        """The mention is a "stop" that `check` acts on (opt_out_request)."""
        return (self._ignored(mention, bot, now) is None
                and OPT_OUT.match(normalise(strip_mentions(mention.text))) is not None)

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
