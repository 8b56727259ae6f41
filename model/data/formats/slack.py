"""Slack workspace export (a zip or its unpacked folder).

Layout: `users.json`, `channels.json` (and `groups.json`, `dms.json`, `mpims.json` for
private channels, direct and group messages), and one folder per conversation holding
one `YYYY-MM-DD.json` list of messages per day. Channel, private-channel and group-DM
folders are named after the conversation; DM folders after the DM id.

Sender: the user's display name, else real name, else user name (bots: the bot's
name); people of another workspace in a shared channel, absent from users.json, by the
profile their messages carry. Slack's notices (joins, topics, integrations, reminders…)
are `system`; a file is `media` unless posted with words, which are kept as text.
Markup is turned back into what people saw: `<@U1>` -> `@Ana`, `<#C1|general>`
-> `#general`, `<https://x|label>` -> `label`, `<!here>` -> `@here`, `&amp;` -> `&`,
and outside code, Slack's emoji codes `:joy:` -> 😂, `:+1::skin-tone-3:` -> 👍🏼 (a
workspace's custom emoji, `:partyparrot:`, stay as written: they have no character).

A thread is a conversation of its own, "#general / thread 1577872860.000200" (its
parent's ts): the parent, then the replies in time order, whichever day files hold them.
The channel keeps its top-level messages, thread parents included, and the replies also
sent to the channel (`thread_broadcast`), as Slack shows it.
`time` is the message `ts` (epoch seconds) in the machine's local zone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from functools import cache

import emoji

from model.data.messages import Message
from model.data.sources import Tree, dict_of, list_of, text_of
from model.errors import InputError

NAME = "slack"

_META = ("channels.json", "groups.json", "dms.json", "mpims.json")
_DAY_FILE = re.compile(r"^([^/]+)/\d{4}-\d{2}-\d{2}\.json$")
_MARKUP = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")
# Subtypes that are someone's words; every other (channel_join, bot_add, reminder_add,
# channel_convert_to_private, huddle_thread… Slack keeps adding them) is Slack's notice
_MESSAGE_SUBTYPES = {"", "bot_message", "me_message", "thread_broadcast", "file_share"}
_DROPPED_SUBTYPES = {"message_deleted", "message_changed", "tombstone"}
# Code (a span or block) or markup (a link's URL), kept as they are; else an emoji code
# with the skin tone Slack writes after it as a code of its own: `:wave::skin-tone-4:`
_KEPT_OR_EMOJI = re.compile(
    r"(```.*?```|`[^`\n]+`|<[^<>]*>)|:([a-z0-9_+-]+):(?::(skin-tone-[2-6]):)?", re.DOTALL
)
# Slack's names beyond emoji-datasource's: its own smiley from before Unicode had one
_SLACK_ONLY_NAMES = {"simple_smile": "\U0001f642"}


def sniff(entry) -> bool:
    return False  # a Slack export is a whole tree; see sniff_tree


def parse(entry, ctx) -> Iterator[Message]:
    raise InputError(
        "a Slack export is a zip or folder with users.json and channels.json", entry.name
    )


def sniff_tree(tree: Tree) -> bool:
    users = _meta_entry(tree, "users.json")
    if users is None or not any(_meta_entry(tree, name) for name in _META):
        return False
    return users.head_text().lstrip("\ufeff").lstrip().startswith("[")


def parse_tree(tree: Tree, ctx) -> Iterator[Message]:
    users = _meta_entry(tree, "users.json")
    base = users.relpath[: -len("users.json")]
    names = {text_of(u, "id"): _user_name(u) for u in _json_list(users) if text_of(u, "id")}
    titles = _conversation_titles(tree, names)
    days: dict[str, list] = {}
    for entry in tree.entries:
        if not entry.relpath.startswith(base):
            continue  # beside the export, not in it: ingest looks at it on its own
        ctx.claimed.add(entry.relpath)
        match = _DAY_FILE.match(entry.relpath[len(base) :])
        if match:
            days.setdefault(match.group(1), []).append(entry)
        elif entry.relpath[len(base) :] not in ("users.json", *_META):
            ctx.report.skip(entry.name, None, "not a Slack conversation file")
    for folder in sorted(days):
        conversation = titles.get(folder, f"#{folder}")
        records = []
        for entry in sorted(days[folder], key=lambda e: e.relpath):
            records.extend((entry, r) for r in _json_list(entry) if isinstance(r, dict))
        records.sort(key=lambda pair: _ts(pair[1]) or 0.0)
        known = {**_profile_names(record for _, record in records), **names}
        yield from _with_threads(_messages(records, conversation, known, ctx), conversation)


def _messages(records, conversation: str, names: dict, ctx) -> Iterator[tuple[dict, Message]]:
    """(record, message) of each record that is a message; the others skipped with why."""
    for entry, record in records:
        message = _message(record, conversation, names)
        if message is None:
            ctx.report.skip(entry.name, None, _skip_reason(record))
        else:
            yield record, message


def _with_threads(made, conversation: str) -> Iterator[Message]:
    """A conversation's messages as Slack shows them: the channel's own first, then each
    thread as a conversation of its own, its parent followed by the replies.

    A reply answers its parent, not what the channel said meanwhile, so a reply must not
    get the channel's timeline as its context. The parent stays in the channel (its flow
    goes on from it) and so does a reply also sent to the channel (thread_broadcast).
    """
    made = list(made)
    replied = {_thread_of(record) for record, _ in made if _is_reply(record)}
    channel, threads = [], {}
    for record, message in made:
        if not _is_reply(record) or text_of(record, "subtype") == "thread_broadcast":
            channel.append(message)
        thread = _thread_of(record)
        if thread in replied:  # a reply, or the parent of replies
            title = f"{conversation} / thread {thread}"
            threads.setdefault(thread, []).append(replace(message, conversation=title))
    yield from channel
    for thread in threads.values():
        yield from thread


def _thread_of(record: dict) -> str:
    """The ts of the thread a message starts or answers ("" for none): Slack gives a
    parent and its replies the parent's ts as `thread_ts`."""
    return text_of(record, "thread_ts")


def _is_reply(record: dict) -> bool:
    return _thread_of(record) not in ("", text_of(record, "ts"))


def _meta_entry(tree: Tree, name: str):
    """The shallowest entry called `name` (exports may sit in one top folder)."""
    found = [e for e in tree.entries if e.relpath.rsplit("/", 1)[-1] == name]
    return min(found, key=lambda e: e.relpath.count("/"), default=None)


def _json_list(entry) -> list:
    data = entry.read_json()
    if not isinstance(data, list):
        raise InputError("expected a JSON list", entry.name, 1)
    return data


def _first_text(*candidates: tuple) -> str:
    """The first non-empty text among (record, key) candidates."""
    return next((text_of(r, k) for r, k in candidates if text_of(r, k)), "")


def _user_name(user: dict) -> str:
    profile = dict_of(user, "profile")
    return _first_text(
        (profile, "display_name"), (profile, "real_name"), (user, "real_name"), (user, "name"),
        (user, "id"),
    )  # fmt: skip


def _profile_names(records) -> dict[str, str]:
    """User id -> name from the profile each message carries: people of another workspace
    in a shared channel are in no users.json, yet post and are mentioned like anyone."""
    names = {}
    for record in records:
        profile = dict_of(record, "user_profile")
        name = _first_text((profile, "display_name"), (profile, "real_name"), (profile, "name"))
        if text_of(record, "user") and name:
            names[text_of(record, "user")] = name
    return names


def _conversation_titles(tree: Tree, names: dict) -> dict[str, str]:
    """Folder name -> conversation title, for every kind of conversation in the export."""
    titles = {}
    for meta in _META:
        entry = _meta_entry(tree, meta)
        for item in _json_list(entry) if entry else []:
            if not text_of(item, "id"):
                continue
            members = [m for m in list_of(item, "members") if isinstance(m, str)]
            members = ", ".join(names.get(m, m) for m in members)
            # DM folders are named by id, every other conversation folder by its name
            dm = meta == "dms.json"
            folder = text_of(item, "id") if dm else _first_text((item, "name"), (item, "id"))
            kinds = {"dms.json": f"DM {members}", "mpims.json": f"group DM {members}"}
            titles[folder] = kinds.get(meta, f"#{folder}")
    return titles


def _message(record: dict, conversation: str, names: dict) -> Message | None:
    subtype = text_of(record, "subtype")
    stamp = _ts(record)
    if subtype in _DROPPED_SUBTYPES or stamp is None:
        return None
    sender = _sender(record, names)
    text = unformat(text_of(record, "text"), names)
    kind = "text"
    if subtype not in _MESSAGE_SUBTYPES:
        kind = "system"
    elif not text and (list_of(record, "files") or subtype == "file_share"):
        # a file with words is kept as their text, as a caption is in other formats
        kind = "media"
        files = ", ".join(text_of(f, "name") or "?" for f in list_of(record, "files"))
        text = f"<file: {files}>"
    if not text or not sender:
        return None
    time = datetime.fromtimestamp(stamp).isoformat(timespec="seconds")
    return Message(NAME, conversation, time, sender, text, kind)


def _ts(record: dict) -> float | None:
    """Slack's message id doubles as its time: epoch seconds as a string ("1577872800.0001")."""
    try:
        value = float(text_of(record, "ts"))
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < 1e11 else None  # also rules out nan and inf


def _sender(record: dict, names: dict) -> str:
    if text_of(record, "user") in names:
        return names[text_of(record, "user")]
    return _first_text(
        (record, "username"), (dict_of(record, "bot_profile"), "name"), (record, "user"),
        (record, "bot_id"),
    )  # fmt: skip


def _skip_reason(record: dict) -> str:
    subtype = text_of(record, "subtype")
    if subtype in _DROPPED_SUBTYPES:
        return f"slack {subtype} event"
    if _ts(record) is None:
        return "slack message without a valid ts"
    return "slack message without text or sender"


def unformat(text: str, names: dict) -> str:
    """Slack's `<...>` markup, emoji codes and three HTML escapes back to plain text."""

    def replace(match: re.Match) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return "@" + (names.get(target) or label or target)
        if sigil == "#":
            return "#" + (label or target)
        if sigil == "!":
            return label or "@" + target.split("^")[0]
        return label or target.removeprefix("mailto:")

    text = _MARKUP.sub(replace, _KEPT_OR_EMOJI.sub(_emoji_of_code, text))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emoji_of_code(match: re.Match) -> str:
    kept, name, tone = match.groups()
    glyph = None if kept else _standard_emoji(name)
    if glyph is None:
        return match.group(0)
    return _toned(glyph, _standard_emoji(tone)) if tone else glyph


@cache
def _standard_emoji(name: str) -> str | None:
    """The emoji for one of Slack's standard names, None for a custom emoji.

    Slack names emoji as emoji-datasource does. The emoji package knows most names as
    they are or with `_` for `-`, and CLDR's man/woman for its male/female; the others
    are Unicode character names ("first_place_medal"), skin tones ("skin-tone-2", the
    Fitzpatrick modifiers from U+1F3FB) and flags by region code ("flag-br").
    """
    if name in _SLACK_ONLY_NAMES:
        return _SLACK_ONLY_NAMES[name]
    underscored = name.replace("-", "_")
    gendered = re.sub(r"^(fe)?male_", lambda m: "woman_" if m[1] else "man_", underscored)
    for candidate in (name, underscored, gendered):
        found = emoji.emojize(f":{candidate}:", language="alias")
        if found != f":{candidate}:":
            return found
    if tone := re.fullmatch(r"skin-tone-([2-6])", name):
        return chr(0x1F3FB + int(tone[1]) - 2)
    if region := re.fullmatch(r"flag-([a-z]{2})", name):
        found = "".join(chr(0x1F1E6 + ord(letter) - ord("a")) for letter in region[1])
    else:
        found = _character_named(underscored.replace("_", " "))
    return found if found and emoji.is_emoji(found) else None


def _character_named(name: str) -> str | None:
    try:
        return unicodedata.lookup(name)
    except KeyError:
        return None


def _toned(glyph: str, tone: str) -> str:
    """`glyph` in a skin tone: the modifier follows the person it colours, the first
    character, in place of the emoji-style selector after it (U+FE0F)."""
    toned = glyph[0] + tone + glyph[1:].removeprefix("\ufe0f")
    return toned if emoji.is_emoji(toned) else glyph + tone
