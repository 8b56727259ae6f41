"""Messages -> (context -> reply) training pairs for one persona (docs/architecture.md, "Pair").

    messages  ──group by conversation──▶ sessions (split after a silence)
              ──merge one speaker's run──▶ turns ("a <brk> b")
              ──each persona turn with earlier turns──▶ pair(context = last N turns, reply)

Only `text` messages carry words; media, system, deleted and forwarded messages never
appear as text (see _UNSEEN for what they still do).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

from model.data.messages import Message
from model.errors import InputError
from model.pii import scrub_pii
from model.text import BRK, BRK_JOIN

# Another speaker's media, deleted or forwarded message ends the session, so no reply is
# learned without what it answered: the model only ever sees text, and "lol nice pic"
# learned as the answer to the words before the photo teaches non-sequiturs. A "<media>"
# turn instead would be no token of the tokenizer and nothing serving ever sends. The
# speaker's own such messages just drop out of their turn: forwarded words are not theirs.
_UNSEEN = ("media", "deleted", "forwarded")


def _hash_unit(conversation: str) -> float:
    digest = hashlib.sha1(conversation.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(conversation: str, fraction: float) -> bool:
    """The test split: by conversation (stable hash), never by pair. Eval scores on these."""
    return _hash_unit(conversation) < fraction


def split_of(conversation: str, fraction: float) -> str:
    """"test" (= is_heldout), "val" (the next `fraction` of conversations, for early
    stopping) or "train". Keeping validation apart from test means choosing the best
    checkpoint never peeks at the conversations eval reports on."""
    unit = _hash_unit(conversation)
    return "test" if unit < fraction else "val" if unit < 2 * fraction else "train"


# With fewer conversations than this the splits hold out sessions instead: one long chat
# with one person is the commonest export, and whole conversations put all of it in one
# split (no validation, or nothing to train on), or ten chats 60% in validation.
MIN_CONVERSATIONS_TO_SPLIT = 20


class Split:
    """Which split each pair of a data set is in.

    With MIN_CONVERSATIONS_TO_SPLIT conversations or more, `split_of` each conversation: a
    stable hash, so adding chats moves none. With fewer, whole sessions: ranked by the same
    hash, the first `fraction` of them (at least one) is "test", the next "val", so a
    handful of sessions is not left with an empty split by chance. Training and eval build
    the same pairs from a manifest, so they agree on every pair's split.
    """

    def __init__(self, pairs: Iterable[dict], fraction: float):
        pairs = list(pairs)
        self.fraction = fraction
        self.by_session = len({p["conversation"] for p in pairs}) < MIN_CONVERSATIONS_TO_SPLIT
        self._ranked: dict[str, str] = {}
        if self.by_session:
            units = sorted({self._session(p) for p in pairs}, key=_hash_unit)
            held = max(round(len(units) * fraction), 1)
            self._ranked = {unit: "test" if rank < held else "val" if rank < 2 * held
                            else "train" for rank, unit in enumerate(units)}

    @staticmethod
    def _session(pair: dict) -> str:  # pairs written before sessions were recorded: one
        return f"{pair['conversation']}\x00session {pair.get('session', 0)}"

    def of(self, pair: dict) -> str:
        if self.by_session:
            return self._ranked.get(self._session(pair), "train")
        return split_of(pair["conversation"], self.fraction)

    def unit(self, pair: dict) -> str:
        """What is split whole: the pair's session when there are few conversations, else
        its conversation."""
        return self._session(pair) if self.by_session else pair["conversation"]

    def heldout(self, pair: dict) -> bool:
        return self.of(pair) == "test"


@dataclass
class PairOptions:
    persona: list[str]  # aliases, first is canonical
    context_turns: int = 5
    session_gap_hours: float = 6
    min_reply_chars: int = 1
    scrub_pii: bool = True
    extra_personas: int = 0
    augment: bool = False


@dataclass
class PairSummary:
    pairs: Counter = field(default_factory=Counter)  # persona -> pairs
    conversations: int = 0
    sessions: int = 0
    turns: int = 0
    skipped: Counter = field(default_factory=Counter)
    context_turns_total: int = 0
    reply_chars_total: int = 0

    def render(self) -> str:
        total = sum(self.pairs.values())
        lines = [f"{total} pairs from {self.conversations} conversations, "
                 f"{self.sessions} sessions, {self.turns} turns"]
        for persona, n in self.pairs.most_common():
            lines.append(f"  {n:>8}  {persona}")
        if total:
            lines.append(f"mean context turns {self.context_turns_total / total:.2f}, "
                         f"mean reply chars {self.reply_chars_total / total:.1f}")
        for reason, n in self.skipped.most_common():
            lines.append(f"skipped {n}: {reason}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        total = sum(self.pairs.values())
        return {
            "pairs": total,
            "pairs_by_persona": dict(self.pairs.most_common()),
            "conversations": self.conversations,
            "sessions": self.sessions,
            "turns": self.turns,
            "mean_context_turns": round(self.context_turns_total / total, 3) if total else 0,
            "mean_reply_chars": round(self.reply_chars_total / total, 2) if total else 0,
            "skipped": dict(self.skipped),
        }


@dataclass
class Turn:
    speaker: str  # persona label for learned speakers (aliases merged), else the sender
    texts: list[str]

    @property
    def text(self) -> str:
        return BRK_JOIN.join(self.texts)


def speaker_counts(messages: Iterable[Message]) -> Counter:
    """Text messages per sender: how the persona and the extra personas are chosen."""
    return Counter(m.sender for m in messages if m.kind == "text" and m.sender)


def resolve_personas(options: PairOptions, counts: Counter) -> tuple[str, dict[str, str]]:
    """Return the canonical persona and a map sender -> persona label for every learned speaker.

    Raises InputError when the persona never speaks, listing the most active senders, and
    when a persona chosen for the user ('auto', extra_personas) is named by personal data.
    """
    aliases = options.persona
    if aliases == ["auto"]:
        if not counts:
            raise InputError("persona: 'auto' found no text messages to choose from")
        aliases = [counts.most_common(1)[0][0]]
        if _is_personal_data(aliases[0]):
            raise InputError(
                f"persona: 'auto' chose the most active sender, {aliases[0]!r}, a phone number "
                "or e-mail address that would name the persona in the bundle and its prompt; "
                f"name them, with it as an alias: persona: [Name, {_quoted(aliases[0])}]")
    canonical = aliases[0]
    labels = {alias: canonical for alias in aliases if counts[alias]}
    if not labels:
        top = ", ".join(f"{name!r} ({n})" for name, n in counts.most_common(8))
        raise InputError(f"persona: {canonical!r} sent no text messages; senders are: {top}")
    others = [name for name, _ in counts.most_common() if name not in aliases]
    extras = others[: options.extra_personas]
    unnamed = [name for name in extras if _is_personal_data(name)]
    if unnamed:
        raise InputError(
            f"pairs.extra_personas: would learn {', '.join(map(repr, unnamed))}, named by a "
            "phone number or e-mail address that would ship in the bundle; name them: rename: "
            f"{{{', '.join(f'{_quoted(name)}: Name' for name in unnamed)}}}")
    for name in extras:
        labels[name] = name
    return canonical, labels


def _is_personal_data(sender: str) -> bool:
    """An unsaved contact's name as exported: a phone number (WhatsApp, Signal) or an
    e-mail address (iMessage), as scrub_pii finds them in the text of the pairs."""
    scrubbed = scrub_pii(sender)
    return "<phone>" in scrubbed or "<email>" in scrubbed


def _quoted(name: str) -> str:
    """`name` as a YAML string: unquoted, +447700900123 would read as a number."""
    return json.dumps(name, ensure_ascii=False)


def build_pairs(
    messages: list[Message], options: PairOptions, summary: PairSummary | None = None,
    counts: Counter | None = None,
) -> Iterator[dict]:
    """Yield Pair dicts in conversation order. `messages` is in export order.

    `counts` (speaker_counts of other messages) chooses the personas instead of `messages`
    themselves: pairs of unseen chats then learn the same people training learned."""
    summary = summary if summary is not None else PairSummary()
    _, labels = resolve_personas(options, counts if counts is not None else
                                 speaker_counts(messages))
    learned = set(labels.values())
    clean = scrub_pii if options.scrub_pii else (lambda text: text)
    by_conversation: dict[str, list[Message]] = {}
    for message in messages:
        if message.kind in _UNSEEN or message.kind == "text" and message.text.strip():
            by_conversation.setdefault(message.conversation, []).append(message)
    gap = options.session_gap_hours * 3600
    for conversation, convo in by_conversation.items():
        summary.conversations += 1
        for number, session in enumerate(_sessions(convo, gap, labels)):
            summary.sessions += 1
            turns = _turns(session, labels)
            summary.turns += len(turns)
            for i, turn in enumerate(turns):
                if i == 0 or turn.speaker not in learned:
                    continue
                reply = clean(turn.text)
                if len(reply.replace(BRK, "").strip()) < max(options.min_reply_chars, 1):
                    summary.skipped["reply shorter than min_reply_chars"] += 1
                    continue
                window = turns[max(0, i - options.context_turns) : i]
                context = [clean(t.text) for t in window]
                speakers = [
                    t.speaker if t.speaker in learned or not options.scrub_pii else scrub_pii(t.speaker)
                    for t in window
                ]
                starts = range(len(window)) if options.augment else range(1)
                for start in starts:
                    summary.pairs[turn.speaker] += 1
                    summary.context_turns_total += len(window) - start
                    summary.reply_chars_total += len(reply)
                    yield {
                        "persona": turn.speaker,
                        "context": context[start:],
                        "context_speakers": speakers[start:],
                        "reply": reply,
                        "conversation": conversation,
                        "session": number,
                    }


def _sessions(convo: list[Message], gap_seconds: float, labels: dict[str, str]) -> Iterator[list[Message]]:
    """The text messages of a conversation, split where two messages lie further apart
    than the gap, forwards (a silence) or backwards (one chat's two exports read one after
    the other: context must not run from the 15th back to the 12th; a minute's jitter of
    a late-delivered message stays), and at _UNSEEN messages of another speaker."""
    session: list[Message] = []
    last: datetime | None = None
    for message in convo:
        when = _parse_time(message.time)
        apart = when is not None and last is not None and abs((when - last).total_seconds()) > gap_seconds
        if session and (apart or message.kind != "text" and _speaker(message, labels) != _speaker(session[-1], labels)):
            yield session
            session = []
        if message.kind == "text":
            session.append(message)
        last = when if when is not None else last
    if session:
        yield session


def _turns(session: list[Message], labels: dict[str, str]) -> list[Turn]:
    """Merge consecutive messages of one speaker (aliases count as one speaker)."""
    turns: list[Turn] = []
    for message in session:
        speaker = _speaker(message, labels)
        text = message.text.strip()
        if turns and turns[-1].speaker == speaker:
            turns[-1].texts.append(text)
        else:
            turns.append(Turn(speaker, [text]))
    return turns


def _speaker(message: Message, labels: dict[str, str]) -> str:
    return labels.get(message.sender, message.sender)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        # times are local wall times (Message contract); an offset some tool wrote is
        # dropped as formats drop it (sources.time_of), so naive and aware times compare
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return None


def read_pairs(path) -> Iterator[dict]:
    """Stream Pair dicts from JSONL, validating each against the contract."""
    path = str(path)
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path) from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                pair = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON ({exc.msg})", path, number) from None
            _check_pair(pair, path, number)
            yield pair


def _check_pair(pair, path: str, line: int) -> None:
    if not isinstance(pair, dict):
        raise InputError("expected a JSON object", path, line)
    for key, kind in (("persona", str), ("reply", str), ("conversation", str),
                      ("context", list), ("context_speakers", list)):
        if not isinstance(pair.get(key), kind):
            raise InputError(f"field {key!r} must be a {kind.__name__}", path, line)
    if not pair["context"] or len(pair["context"]) != len(pair["context_speakers"]):
        raise InputError("'context' must be non-empty and as long as 'context_speakers'", path, line)


def options_from_manifest(manifest) -> PairOptions:
    return PairOptions(persona=list(manifest.persona), **manifest.pairs)


def messages_from_manifest(manifest, report=None, beyond_limit: bool = False) -> list[Message]:
    """Ingest every source of a manifest, honouring each source's `limit` and `me`.

    `beyond_limit`: instead, only the messages of the conversations each source's `limit`
    leaves out (none from a source without one): chats no model of the manifest has seen.
    """
    from model.data.formats import chitchat
    from model.data.ingest import Ingested, ingest

    messages: list[Message] = []
    ingested = Ingested()  # two sources' same-named chats stay two, the same file is read once
    for source in manifest.sources:
        if beyond_limit and source.limit is None:
            continue
        path = source.path if source.path is not None else chitchat.installed_corpus_path()
        places: dict[str, int] = {}  # conversation -> its place among the source's chats
        for message in ingest([str(path)], source.format, report, me=source.me or manifest.me,
                              ingested=ingested):
            if source.limit is not None:
                place = places.setdefault(message.conversation, len(places) + 1)
                if place > source.limit and not beyond_limit:
                    break
                if place <= source.limit and beyond_limit:
                    continue  # a chat within the limit: training read it
            if message.sender in manifest.rename:
                message.sender = manifest.rename[message.sender]
            messages.append(message)
    return messages


def unseen_pairs_from_manifest(manifest) -> list[dict]:
    """Pairs of the chats past each source's `limit` (each real context once), with the
    personas chosen on the chats the manifest does read, as training chose them.

    Training never read these chats, nor its validation or test split: a held-out set as
    large as the corpus allows (the demo's 1,000-chat split tests on 7 chats of Sam)."""
    if not any(source.limit for source in manifest.sources):
        raise InputError("no source has a `limit`, so training read every chat and none is "
                         "unseen (use the test split)", str(manifest.path))
    options = replace(options_from_manifest(manifest), augment=False)
    counts = speaker_counts(messages_from_manifest(manifest))
    try:
        return list(build_pairs(messages_from_manifest(manifest, beyond_limit=True), options,
                                counts=counts))
    except InputError as exc:
        raise InputError(exc.reason, str(manifest.path)) from None


def build_pairs_from_manifest(manifest, summary: PairSummary | None = None, report=None,
                              augment: bool | None = None) -> list[dict]:
    """Ingest + pairs as the manifest says; the persona check raises InputError naming `persona`.

    `augment` overrides `pairs.augment`: evaluation reads each real context once, whatever
    shorter variants training added."""
    messages = messages_from_manifest(manifest, report)
    options = options_from_manifest(manifest)
    if augment is not None:
        options = replace(options, augment=augment)
    try:
        return list(build_pairs(messages, options, summary))
    except InputError as exc:
        raise InputError(exc.reason, str(manifest.path)) from None
