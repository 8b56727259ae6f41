"""`python -m backend poll`: answer X mentions in character, each exactly once.

One poll: (1) if a 429 told us to wait, do nothing until its reset time; (2) on the very
first start store the newest mention id and answer no backlog; (3) read every mention
newer than since_id, oldest first; (4) recover claims a crashed run or an unconfirmed
post left behind: a claimed-but-unconfirmed mention is looked up among the bot's own
replies first and reposted only if no reply exists, and not at all when its author says
"stop" in a later mention, one just read included; (5) apply the rules to the new
mentions, generate all replies in one batch, then for each: claim (conditional insert)
-> post -> confirm, and move since_id past it.

Never two replies to one mention: only the claim holder posts; a post that may have
reached X without an answer (timeout, reset, 5xx: xclient's UnconfirmedPost) is never
sent again in place, its mention stays claimed; a stale claim is taken over by a
conditional update, only after checking the bot's timeline. The reply text is a
deterministic function of the mention (seeded by its id), so a repost after a success
the timeline did not show yet meets X's duplicate-content 403; that counts as done only
once the timeline shows our reply to the mention, else it is a skip ("duplicate_content":
the same words went to someone else recently).

`handle_scheduled(event, context)` is the Lambda/Zappa entry point: same poll, and no
exception (TypeError included) ever escapes it, so Zappa never retries it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from backend.bots.ledger.stores import open_state
from backend.bots.replies import outgoing
from backend.bots.rules import Blocklist, Rules, RuleSettings, strip_mentions
from backend.bots.skips import BLOCKED_OUTGOING, OPTED_OUT
from backend.bots.x.client import (
    AuthError,
    DuplicateContent,
    MalformedResponse,
    RateLimited,
    RequestRejected,
    Tweet,
    UnconfirmedPost,
    XError,
    make_client,
)
from backend.bots.x.tweet_text import fit_tweet
from backend.config import load_config
from model.cli import positive_float
from model.errors import InputError
from model.logs import log_event
from model.serve.decode import Decoding
from model.serve.load import load_replier
from model.serve.runtime import ReplyRequest

log = logging.getLogger("doppel.poller")
CHUNK = 16  # mentions generated in one batch before their replies are posted
JOINERS = {"newline": "\n", "space": " "}  # how a reply's bubbles share one tweet


@dataclass
class Counters:
    seen: int = 0
    replied: int = 0
    recovered: int = 0  # claims found already answered on the bot's timeline
    duplicates: int = 0  # posts X refused as duplicate content, our reply on the timeline
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    errors: Counter = field(default_factory=Counter)  # kind -> count

    def as_dict(self) -> dict:
        return {"mentions_seen": self.seen, "replied": self.replied,
                "recovered": self.recovered, "duplicates": self.duplicates,
                "skipped": dict(self.skipped),
                "errors": dict(self.errors)}


@dataclass
class Planned:
    mention: Tweet
    skip: str | None = None
    message: str = ""
    history: list[tuple[str, str | None]] = field(default_factory=list)  # (text, speaker)
    text: str | None = None  # the tweet to post


class Poller:
    def __init__(self, client, state, replier, config: dict, *, dry_run: bool = False,
                 clock=time.time, owner: str | None = None):
        self.client, self.state, self.replier, self.config = client, state, replier, config
        self.rules = Rules(RuleSettings.from_config(config), Blocklist.load(config["x_blocklist"]))
        self.persona = config["x_persona"] or None
        if self.persona is not None and self.persona not in replier.personas:
            raise InputError(f"X_PERSONA {self.persona!r} is not in the model; it knows: "
                             f"{', '.join(replier.personas)}")
        if config["x_bubble_joiner"] not in JOINERS:
            raise InputError(f"X_BUBBLE_JOINER must be one of {', '.join(JOINERS)}, "
                             f"not {config['x_bubble_joiner']!r}")
        self.joiner = JOINERS[config["x_bubble_joiner"]]
        try:
            Decoding.from_dict(config["x_decoding"])
        except ValueError as exc:
            raise InputError(f"X_DECODING: {exc}") from None
        self.dry_run, self.clock = dry_run, clock
        self.owner = owner or uuid.uuid4().hex[:12]
        self.bot: dict | None = None

    # --- one poll -------------------------------------------------------------------------
    def poll_once(self) -> dict:
        counters = Counters()
        now = self.clock()
        wait = self.rate_limited_for()
        if wait > 0:
            log_event(log, "rate_limit_wait", seconds=round(wait, 1))
            counters.skipped["rate_limit_wait"] += 1
            return counters.as_dict()
        try:
            self.bot = self.bot or self.client.me()
            if not self.state.initialized():
                self._first_start()
            else:
                mentions, known = self._read_new(counters)
                self._recover(counters, later=mentions)
                self._answer_new(mentions, known, counters)
        except RateLimited as exc:
            reset = exc.reset_time or now + self.config["x_rate_limit_backoff_s"]
            self.state.set_reset_time(reset)
            counters.errors[exc.kind] += 1
            log_event(log, "rate_limited", logging.WARNING, reset_time=reset,
                  header=exc.reset_time is not None)
        except AuthError as exc:
            counters.errors[exc.kind] += 1
            log_event(log, "x_auth_failed", logging.ERROR, detail=str(exc),
                  hint="check the X_* credentials and the app's access level")
        except XError as exc:  # transient after retries, malformed, rejected: next poll
            counters.errors[exc.kind] += 1
            log_event(log, "poll_aborted", logging.WARNING, kind=exc.kind, detail=str(exc)[:300])
        if self.client.exhausted_until > self.clock() and not self.dry_run:
            self.state.set_reset_time(max(self.state.reset_time(), self.client.exhausted_until))
        return counters.as_dict()

    def rate_limited_for(self) -> float:
        """Seconds until the stored reset time of a 429 (0 when none is pending): polling
        before then would only find it again."""
        return max(0.0, self.state.reset_time() - self.clock())

    def _first_start(self) -> None:
        newest = self.client.newest_mention_id(self.bot["id"])
        if not self.dry_run:
            self.state.initialize(newest)
        log_event(log, "first_start", since_id=newest, note="backlog left unanswered")

    def _read_new(self, counters: Counters) -> tuple[list[Tweet], dict[str, Tweet]]:
        """Mentions newer than since_id (oldest first) and the tweets read with them; read
        before recovery, so that a "stop" among them covers the claims it recovers."""
        mentions, known, malformed = self.client.mentions(self.bot["id"], self.state.since_id())
        counters.seen += len(mentions)
        if malformed:
            counters.errors[MalformedResponse.kind] += malformed
            log_event(log, "malformed_tweets_skipped", logging.WARNING, count=malformed)
        return mentions, known

    def _answer_new(self, mentions: list[Tweet], known: dict[str, Tweet],
                    counters: Counters) -> None:
        # Mentions with a record were answered, skipped or claimed (recovery handles those).
        fresh = [m for m in mentions if self.state.mention(m.id) is None]
        self._handle(fresh, known, counters, claimed=False)
        if mentions and not self.dry_run:  # only now: since_id never passes an unhandled one
            self.state.advance_since_id(mentions[-1].id)

    def _recover(self, counters: Counters, later: list[Tweet]) -> None:
        """Resolve claims a crashed or failed run left unconfirmed for too long; `later`:
        the mentions this poll read, whose stops cover the claims' authors too."""
        if self.dry_run:
            return
        now = self.clock()
        stale = [r for r in self.state.stale_claims(now - self.config["x_claim_timeout_s"])
                 if r.mention_id.isdigit()]  # other bots may share the store (e.g. "tg:...")
        if not stale:
            return
        oldest = min(stale, key=lambda r: int(r.mention_id)).mention_id
        answered = self.client.replies_by(self.bot["id"], since_id=oldest)
        retry = []
        for record in stale:
            if record.mention_id in answered:
                self.state.confirm(record.mention_id, answered[record.mention_id], now)
                counters.recovered += 1
                log_event(log, "claim_recovered", mention=record.mention_id,
                      reply=answered[record.mention_id])
            elif self.state.take_over(record, self.owner, now):
                retry.append(record)
        found = self.client.lookup([r.mention_id for r in retry]) if retry else {}
        for record in retry:
            if record.mention_id not in found:
                self._skip(Planned(Tweet(record.mention_id, "", record.author_id),
                                   "mention_deleted"), counters)
        if found:
            log_event(log, "claims_retried", mentions=sorted(found))
        self._handle([found[i] for i in sorted(found, key=int)], {}, counters, claimed=True,
                     later=later)

    # --- deciding, generating, posting ------------------------------------------------------
    def _handle(self, mentions: list[Tweet], known: dict[str, Tweet], counters: Counters,
                claimed: bool, later: Sequence[Tweet] = ()) -> None:
        """Plan, generate and post in chunks, so replies start flowing before all are made.
        `later`: other mentions whose stops count (a stop covers what its author wrote
        before it)."""
        stopped = self._stopped_later(sorted([*mentions, *later], key=lambda m: int(m.id)))
        for start in range(0, len(mentions), CHUNK):
            self._handle_chunk(mentions[start:start + CHUNK], known, counters, claimed, stopped)

    def _stopped_later(self, mentions: list[Tweet]) -> set[str]:
        """Ids of mentions whose author says "stop" in a later one (`mentions` is oldest
        first): a stop covers what they wrote before it and is not answered yet, even when
        the stop falls in a later chunk or a "start" follows it."""
        stopped, stopping, now = set(), set(), self.clock()
        for mention in reversed(mentions):
            if mention.author_id in stopping:
                stopped.add(mention.id)
            if self.rules.says_stop(mention, self.bot, now):
                stopping.add(mention.author_id)
        return stopped

    def _handle_chunk(self, mentions: list[Tweet], known: dict[str, Tweet], counters: Counters,
                      claimed: bool, stopped: set[str]) -> None:
        threads = self._threads(mentions, known)
        per_author: Counter = Counter()
        plans = []
        for mention in mentions:
            plan = self._plan(mention, threads[mention.id], per_author[mention.author_id])
            if plan.skip is None and mention.id in stopped:
                plan.skip = OPTED_OUT
            if plan.skip is None:
                per_author[mention.author_id] += 1
            plans.append(plan)
        self._generate([p for p in plans if p.skip is None])
        for plan in plans:
            if plan.skip is not None:
                self._skip(plan, counters)
            else:
                self._post(plan, counters, claimed)
        if not self.dry_run and not claimed:  # every mention of the chunk now has a record
            self.state.advance_since_id(mentions[-1].id)

    def _threads(self, mentions: list[Tweet], known: dict[str, Tweet]) -> dict[str, list[Tweet]]:
        """Each mention's chain of parents, nearest first; lookups batched level by level."""
        depth = self.rules.thread_depth_needed(self.config["x_context_tweets"])
        tweets = dict(known)
        threads = {m.id: [] for m in mentions}
        tips = {m.id: m for m in mentions}  # mention id -> highest tweet reached so far
        for _ in range(depth):
            wanted = {t.parent_id for t in tips.values() if t.parent_id}
            missing = sorted(wanted - set(tweets))
            if missing:
                tweets.update(self.client.lookup(missing))
            tips = {mid: tweets[t.parent_id] for mid, t in tips.items()
                    if t.parent_id in tweets}
            for mention_id, parent in tips.items():
                threads[mention_id].append(parent)
            if not tips:
                break
        return threads

    def _plan(self, mention: Tweet, thread: list[Tweet], planned_replies: int) -> Planned:
        verdict = self.rules.check(mention, thread, self.bot, self.clock(), self.state,
                                   planned_replies)
        if verdict.opt_out is not None and not self.dry_run:
            self.state.set_opted_out(mention.author_id, verdict.opt_out, self.clock())
            log_event(log, "opt_out" if verdict.opt_out else "opt_in", user=mention.author_id)
        context = list(reversed(thread[: self.config["x_context_tweets"]]))
        persona = self.persona or self.replier.default_persona
        return Planned(
            mention, verdict.skip, message=strip_mentions(mention.text),
            history=[(strip_mentions(t.text), persona if t.author_id == self.bot["id"] else None)
                     for t in context],
        )

    def _generate(self, plans: list[Planned], attempts: range = range(2)) -> None:
        """Fill plan.text (batched); a reply the blocklist refuses gets one more try. A try
        after the first samples with another seed, so it can say something else."""
        decoding = dict(self.config["x_decoding"])
        pending = plans
        for attempt in attempts:
            if not pending:
                return
            retry = {"strategy": "sample"} if attempt else {}
            requests = [ReplyRequest.from_turns(
                p.message, p.history, self.persona,
                {**decoding, **retry, "seed": (int(p.mention.id) + attempt) % 2**31},
            ) for p in pending]
            replies = self.replier.reply_batch(requests)
            for plan, reply in zip(pending, replies, strict=True):
                tweet, plan.skip = outgoing(reply, self.rules.blocklist, self._one_tweet)
                plan.text = tweet[0] if tweet else None
            pending = [plan for plan in pending if plan.skip == BLOCKED_OUTGOING]

    def _one_tweet(self, bubbles: list[str]) -> list[str]:
        return [fit_tweet(bubbles, joiner=self.joiner)]

    def _skip(self, plan: Planned, counters: Counters) -> None:
        counters.skipped[plan.skip] += 1
        log_event(log, "skipped", mention=plan.mention.id, author=plan.mention.author_id,
              reason=plan.skip, dry_run=self.dry_run or None)
        if not self.dry_run:
            self.state.skip(plan.mention.id, plan.mention.author_id, plan.skip, self.clock())

    def _post(self, plan: Planned, counters: Counters, claimed: bool,
              reworded: bool = False) -> None:
        mention = plan.mention
        if self.dry_run:
            log_event(log, "would_reply", mention=mention.id, message=plan.message, reply=plan.text)
            counters.replied += 1
            return
        if not claimed and not self.state.claim(mention.id, mention.author_id, self.owner,
                                                self.clock()):
            counters.skipped["claimed_elsewhere"] += 1
            return
        if self.state.opted_out(mention.author_id):  # a stop came while the reply was made
            plan.skip = OPTED_OUT
            self._skip(plan, counters)
            return
        try:
            reply_id = self.client.post_reply(plan.text, mention.id)
        except DuplicateContent:
            self._settle_duplicate(plan, counters, reworded)
            return
        except UnconfirmedPost as exc:
            # The reply may exist: the claim stays, and once it is stale the timeline
            # decides (_recover). The poll stops here, as after any other failed call.
            log_event(log, "post_unconfirmed", logging.WARNING, mention=mention.id, detail=str(exc)[:300])
            raise
        except RequestRejected as exc:  # e.g. the mention was deleted meanwhile
            plan.skip = "rejected"
            self._skip(plan, counters)
            log_event(log, "post_rejected", logging.WARNING, mention=mention.id, detail=str(exc)[:300])
            return
        self.state.confirm(mention.id, reply_id, self.clock())
        counters.replied += 1
        log_event(log, "replied", mention=mention.id, reply=reply_id, author=mention.author_id)

    def _settle_duplicate(self, plan: Planned, counters: Counters, reworded: bool) -> None:
        """X refused the reply as a duplicate of a recent tweet of ours: done if that tweet
        is our reply to this mention (an earlier post landed unseen). Otherwise the same
        words went to someone else lately (short replies repeat, and beam search answers
        the same message the same way): say it differently, once, then give up (a skip)."""
        mention = plan.mention
        answered = self.client.replies_by(self.bot["id"], since_id=mention.id)
        if mention.id in answered:
            self.state.confirm(mention.id, answered[mention.id], self.clock())
            counters.duplicates += 1
            log_event(log, "duplicate_found_posted", mention=mention.id, reply=answered[mention.id])
            return
        if not reworded:
            self._generate([plan], attempts=range(2, 4))
            if plan.skip is None:
                log_event(log, "duplicate_reworded", mention=mention.id)
                self._post(plan, counters, claimed=True, reworded=True)
                return
        plan.skip = "duplicate_content"
        self._skip(plan, counters)


# --- command line and Lambda -------------------------------------------------------------
def build_poller(config: dict, replier=None, *, dry_run: bool = False) -> Poller:
    if replier is None:
        replier = load_replier(config["bundle"], guard=config["memorisation_guard"])
    return Poller(make_client(config), open_state(config["bot_state"]), replier, config,
                  dry_run=dry_run)


def add_arguments(parser) -> None:
    parser.add_argument("--once", action="store_true", help="poll once, print counters, exit")
    parser.add_argument("--dry-run", action="store_true", help="log replies instead of posting")
    parser.add_argument("--interval", type=positive_float,
                        help="seconds between polls, above 0 (X_POLL_INTERVAL_S)")


def run(args) -> int:
    config = load_config()
    interval = args.interval if args.interval is not None else config["x_poll_interval_s"]
    poller = build_poller(config, dry_run=args.dry_run)
    if args.once:
        print(json.dumps(poller.poll_once()), flush=True)
        return 0
    log_event(log, "poller_started", interval_s=interval, owner=poller.owner, dry_run=args.dry_run)
    while True:
        started, rate_limited_s = time.monotonic(), 0.0
        try:
            totals = poller.poll_once()
            if totals["mentions_seen"] or totals["errors"]:
                log_event(log, "poll_done", **totals)
            rate_limited_s = poller.rate_limited_for()
        except Exception as exc:  # a bug or a broken state store: log, keep the loop alive
            log_event(log, "poll_crashed", logging.ERROR, error=type(exc).__name__,
                      detail=str(exc)[:500])
        time.sleep(max(interval - (time.monotonic() - started), rate_limited_s))


_scheduled_poller: Poller | None = None


def handle_scheduled(event_payload=None, context=None, *args, replier=None, **kwargs) -> dict:
    """Lambda/Zappa scheduled entry point: one poll; never raises (no Zappa retries).

    `replier`: a model this process already loaded (the web app's), used instead of
    loading the bundle a second time."""
    global _scheduled_poller
    try:
        if _scheduled_poller is None:  # load the model once per warm container
            _scheduled_poller = build_poller(load_config(), replier)
        totals = _scheduled_poller.poll_once()
        log_event(log, "scheduled_poll_done", **totals)
        return {"ok": True, **totals}
    except Exception as exc:  # anything at all: log it and let the next schedule try again
        log_event(log, "scheduled_poll_failed", logging.ERROR, error=type(exc).__name__,
                  detail=str(exc)[:500])
        return {"ok": False, "error": type(exc).__name__}
