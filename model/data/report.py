"""The ingest/pairs summary: what was read, what was skipped and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

EXAMPLES_PER_REASON = 3


NO_SENDER = "(no sender: the app's own notices)"


@dataclass
class Report:
    by_kind: Counter = field(default_factory=Counter)
    by_sender: Counter = field(default_factory=Counter)
    by_source: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict = field(default_factory=dict)  # reason -> ["file:line", ...]
    files: list = field(default_factory=list)  # (entry name, format)

    def skip(self, where: str, line: int | None, reason: str) -> None:
        self.skipped[reason] += 1
        place = f"{where}:{line}" if line is not None else where
        shown = self.examples.setdefault(reason, [])
        if len(shown) < EXAMPLES_PER_REASON:
            shown.append(place)

    def count(self, message) -> None:
        self.by_kind[message.kind] += 1
        self.by_sender[message.sender] += 1
        self.by_source[message.source] += 1

    def render(self, top_senders: int = 10) -> str:
        total = sum(self.by_kind.values())
        lines = [f"{total} messages from {len(self.files)} file(s)"]
        for name, fmt in self.files:
            lines.append(f"  {fmt:<10} {name}")
        if total:
            kinds = ", ".join(f"{kind} {n}" for kind, n in self.by_kind.most_common())
            lines.append(f"by kind: {kinds}")
            lines.append(f"by sender ({len(self.by_sender)}):")
            for sender, n in self.by_sender.most_common(top_senders):
                # WhatsApp's own notices ("Messages are end-to-end encrypted") name no one
                lines.append(f"  {n:>8}  {sender or NO_SENDER}")
            if len(self.by_sender) > top_senders:
                rest = sum(n for _, n in self.by_sender.most_common()[top_senders:])
                lines.append(f"  {rest:>8}  ({len(self.by_sender) - top_senders} more senders)")
        if self.skipped:
            lines.append(f"skipped {sum(self.skipped.values())}:")
            for reason, n in self.skipped.most_common():
                lines.append(f"  {n:>8}  {reason} (e.g. {', '.join(self.examples[reason])})")
        return "\n".join(lines)
