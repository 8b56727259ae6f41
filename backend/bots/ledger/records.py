"""The poller's memory: what it has answered, skipped or claimed, and whom it must leave alone.

Two stores with one interface: SQLite (default; one file, WAL, every change one
transaction) and DynamoDB (every change a conditional write, so two pollers can never
both claim a mention). Chosen by `BOT_STATE`: `sqlite:///path/to/file.sqlite` or
`dynamodb://table-name` (the endpoint comes from boto3's usual AWS_ENDPOINT_URL*).

A mention moves claimed -> done (reply posted) or claimed -> skipped, or straight to
skipped. A claim is a conditional insert keyed by the mention id: whoever inserts it is
the only one allowed to post; after a crash a stale claim is taken over by a conditional
update on its (owner, claimed_at), so only one taker wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

CLAIMED, DONE, SKIPPED = "claimed", "done", "skipped"
REPLY_HISTORY_S = 86400  # per-user reply times older than this are dropped


@dataclass(frozen=True)
class MentionRecord:
    mention_id: str
    author_id: str
    status: str  # claimed | done | skipped
    reason: str | None = None  # why skipped (state files before 2026-12 also hold "duplicate_content" on a done)
    reply_id: str | None = None
    owner: str | None = None  # the poller run that holds the claim
    claimed_at: float | None = None


def newer_id(a: str | None, b: str | None) -> str | None:
    """The larger of two X ids (numeric strings), treating None as the smallest."""
    if a is None or b is None:
        return b if a is None else a
    return a if int(a) >= int(b) else b


class Ledger(Protocol):
    """What the bots need of a ledger; SqliteState and DynamoState implement it."""

    def close(self) -> None: ...
    def initialized(self) -> bool: ...
    def initialize(self, since_id: str | None) -> None: ...
    def since_id(self) -> str | None: ...
    def advance_since_id(self, mention_id: str) -> None: ...
    def reset_time(self) -> float: ...
    def set_reset_time(self, when: float) -> None: ...
    def mention(self, mention_id: str) -> MentionRecord | None: ...
    def claim(self, mention_id: str, author_id: str, owner: str, now: float) -> bool: ...
    def take_over(self, record: MentionRecord, owner: str, now: float) -> bool: ...
    def confirm(self, mention_id: str, reply_id: str | None, now: float,
                reason: str | None = None) -> bool: ...
    def skip(self, mention_id: str, author_id: str, reason: str, now: float) -> bool: ...
    def stale_claims(self, claimed_before: float) -> list[MentionRecord]: ...
    def all_mentions(self) -> list[MentionRecord]: ...
    def set_opted_out(self, user_id: str, opted_out: bool, now: float) -> None: ...
    def opted_out(self, user_id: str) -> bool: ...
    def replies_since(self, user_id: str, since: float) -> int: ...
