"""X (Twitter) account archive: `data/tweets.js` and `data/direct-messages*.js`.

Each file is JavaScript: `window.YTD.<kind>.partN = [ ...JSON... ]`.
- tweets: the owner's own tweets (retweets skipped), oldest first, tweets.js and its
  parts (tweets-part1.js…) read together. A reply's leading @names, which X adds to
  address it, are dropped. A reply chain forms
  one conversation named after its root tweet ("thread <id>"); stand-alone tweets go
  to the conversation "tweets". A long tweet (over 280 characters) is only its start and
  a t.co link in tweets.js; its whole text comes from note-tweet.js beside it. Sender is
  the account's display name from `account.js` in the same archive, else `ctx.me`.
- direct messages: both sides of every conversation, oldest first. The owner's id maps
  to the account name; other ids map to the @screen_name the archive reveals (reply
  targets and mentions in the tweets), else stay ids. A group's joinConversation is the
  owner joining, added by its initiatingUserId.
Times are UTC, as the archive writes them, without the offset. HTML entities (&amp;)
are unescaped; the text is otherwise kept as written, t.co links included.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath

from model.data.messages import Message
from model.data.sources import dict_of, list_of, parse_json, text_of, time_of
from model.errors import InputError

NAME = "x-archive"

_HEADER = re.compile(r"^\s*window\.YTD\.([A-Za-z_]+)\.part\d+\s*=\s*")
_TWEETS = {"tweets", "tweet"}
_TWEETS_FILE = re.compile(r"(^|/)tweets?(-part\d+)?\.js$")
_NOTES_FILE = re.compile(r"(^|/)note-tweets?(-part\d+)?\.js$")
# what tweets.js keeps of a long tweet after its start: "…" and a t.co link to the rest
_TRUNCATED_END = re.compile(r"\s*…?\s*https://t\.co/\w+\s*$")
_SHORT_LINK = re.compile(r"https://t\.co/\w+")
_DIRECT = {"direct_messages", "direct_messages_group"}
# the @names X puts before a reply's text to address it: X's, not the owner's words
_REPLY_MENTIONS = re.compile(r"^(?:@\w{1,15}(?:\s+|$))+")
_DM_EVENTS = {
    "participantsJoin": "added people to the conversation",
    "participantsLeave": "left the conversation",
}


def sniff(entry) -> bool:
    match = _HEADER.match(entry.head_text().lstrip("\ufeff"))
    return bool(match) and match.group(1) in _TWEETS | _DIRECT


def parse(entry, ctx) -> Iterator[Message]:
    kind, items = _read_ytd(entry)
    account = _account(ctx.tree)
    owner = text_of(account, "accountDisplayName") or ctx.me
    if kind in _TWEETS:
        yield from _tweets(entry, items + _other_tweet_parts(entry, ctx), owner, ctx)
    elif kind in _DIRECT:
        names = _screen_names(ctx.tree)
        owner_id = text_of(account, "accountId") or _guess_owner_id(ctx.tree, items)
        if owner_id:
            names[owner_id] = owner
        yield from _direct_messages(entry, items, names, owner, ctx)
    else:
        raise InputError(f"not tweets or direct messages (window.YTD.{kind})", entry.name, 1)


def _read_ytd(entry) -> tuple[str, list]:
    text = entry.read_text()
    match = _HEADER.match(text.lstrip("\ufeff"))
    if not match:
        raise InputError("expected `window.YTD.<name>.part0 = [...]`", entry.name, 1)
    start = match.end() + (len(text) - len(text.lstrip("\ufeff")))
    items = parse_json(text, entry.name, start)
    if not isinstance(items, list):
        raise InputError("expected a JSON list after `=`", entry.name, 1)
    return match.group(1), items


def _account(tree) -> dict:
    """The `account` record of the archive's account.js (not e.g. shopify-account.js)."""
    for entry in tree.entries:
        if entry.relpath.rsplit("/", 1)[-1] == "account.js":
            for item in _read_ytd(entry)[1]:
                if dict_of(item, "account"):
                    return dict_of(item, "account")
    return {}


def _other_tweet_parts(entry, ctx) -> list:
    """The items of the archive's other tweet files (tweets-part1.js…), read with this one
    and claimed from the ingest: a thread may run across the parts, and one file's
    conversations are kept apart from another's."""
    items = []
    for other in _beside(entry, ctx.tree, _TWEETS_FILE):
        if other is not entry and other.relpath not in ctx.claimed:
            ctx.claimed.add(other.relpath)
            items += _read_ytd(other)[1]
    return items


def _beside(entry, tree, name: re.Pattern) -> list:
    """The files of `tree` in `entry`'s folder whose path matches `name`."""
    folder = PurePosixPath(entry.relpath).parent
    return [other for other in tree.entries
            if PurePosixPath(other.relpath).parent == folder and name.search(other.relpath)]


def _note_texts(entry, tree) -> dict[str, list[str]]:
    """Creation time -> the whole texts of the long tweets ("note tweets") created then,
    from note-tweet.js beside `entry`. X keeps only a long tweet's start in tweets.js, and
    a note names no tweet id: its createdAt, to the second, is its tweet's created_at."""
    notes: dict[str, list[str]] = {}
    for other in _beside(entry, tree, _NOTES_FILE):
        for item in _read_ytd(other)[1]:
            note = dict_of(item, "noteTweet")
            try:
                time = time_of(note, "createdAt")
            except ValueError:
                continue  # a note without its time cannot be matched; its tweet keeps its start
            text = text_of(dict_of(note, "core"), "text")
            if time and text:
                notes.setdefault(time, []).append(html.unescape(text))
    return notes


def _whole_text(text: str, notes: list[str]) -> str:
    """The note, of those created with the tweet, that begins with what the tweet kept of
    it; else the tweet's own text (it was not a long tweet). A link in the kept start is
    X's t.co link where the note has the link as written: any link there matches it."""
    start = _TRUNCATED_END.sub("", text)
    if not start:
        return text
    kept = re.compile(r"\S+".join(map(re.escape, _SHORT_LINK.split(start))))
    return next((note for note in notes if kept.match(note)), text)


def _tweet_records(items: list) -> list[dict]:
    """Items are {"tweet": {...}} in current archives and bare tweets in old ones."""
    records = [item.get("tweet", item) for item in items if isinstance(item, dict)]
    return [record for record in records if isinstance(record, dict)]


def _screen_names(tree) -> dict[str, str]:
    """User id -> screen name, from whatever the owner's tweets reveal."""
    names: dict[str, str] = {}
    for entry in tree.entries:
        if not _TWEETS_FILE.search(entry.relpath):
            continue
        for tweet in _tweet_records(_read_ytd(entry)[1]):
            pairs = [(tweet, "in_reply_to_user_id_str", "in_reply_to_screen_name")]
            for mention in list_of(dict_of(tweet, "entities"), "user_mentions"):
                pairs.append((mention, "id_str", "screen_name"))
            for record, id_key, name_key in pairs:
                if text_of(record, id_key) and text_of(record, name_key):
                    names[text_of(record, id_key)] = text_of(record, name_key)
    return names


def _guess_owner_id(tree, dm_items: list) -> str | None:
    """Without account.js: the author of a self-reply, else the id in every 1:1 DM."""
    for entry in tree.entries:
        if _TWEETS_FILE.search(entry.relpath):
            tweets = _tweet_records(_read_ytd(entry)[1])
            own = {text_of(t, "id_str") for t in tweets} - {""}
            for tweet in tweets:
                if text_of(tweet, "in_reply_to_status_id_str") in own:
                    return text_of(tweet, "in_reply_to_user_id_str") or None
    pairs = [
        set(text_of(dict_of(item, "dmConversation"), "conversationId").split("-"))
        for item in dm_items
    ]
    pairs = [pair for pair in pairs if len(pair) == 2]
    common = set.intersection(*pairs) if len(pairs) >= 2 else set()
    return common.pop() if len(common) == 1 else None


def _own_words(text: str, tweet: dict) -> str:
    """The text without the @names X puts before a reply to address it."""
    return _REPLY_MENTIONS.sub("", text) if text_of(tweet, "in_reply_to_status_id_str") else text


def _tweets(entry, items: list, owner: str, ctx) -> Iterator[Message]:
    tweets = []  # (id, text, time)
    parent = {}  # tweet id -> the id it replies to
    notes = _note_texts(entry, ctx.tree)
    for tweet in _tweet_records(items):
        text = _own_words(text_of(tweet, "full_text") or text_of(tweet, "text"), tweet)
        tweet_id = text_of(tweet, "id_str")
        if tweet.get("retweeted_status") or text.startswith("RT @"):
            ctx.report.skip(entry.name, None, "retweet (not the owner's words)")
        elif not text or not tweet_id:
            ctx.report.skip(entry.name, None, "tweet without text or id")
        else:
            try:
                time = _tweet_time(tweet)
            except ValueError:
                ctx.report.skip(f"{entry.name} (tweet {tweet_id})", None, "tweet with an impossible created_at")
                continue
            long_texts = [_own_words(note, tweet) for note in notes.get(time, [])]
            tweets.append((tweet_id, _whole_text(html.unescape(text), long_texts), time))
            parent[tweet_id] = text_of(tweet, "in_reply_to_status_id_str")
    replied_to = set(parent.values())
    tweets.sort(key=lambda t: (t[2] or "", t[0]))
    for tweet_id, text, time in tweets:
        root, seen = tweet_id, {tweet_id}
        while parent.get(root) and parent[root] not in seen:  # up the chain, cycles cut
            root = parent[root]
            seen.add(root)
        is_thread = root != tweet_id or root in replied_to
        yield Message(NAME, f"thread {root}" if is_thread else "tweets", time, owner, text)


def _tweet_time(tweet: dict) -> str | None:
    """ISO time of `created_at` ("Wed Oct 10 20:19:24 +0000 2018"), None when absent;
    ValueError when it is no date."""
    if "created_at" not in tweet:
        return None
    stamp = datetime.strptime(text_of(tweet, "created_at"), "%a %b %d %H:%M:%S %z %Y")
    return stamp.replace(tzinfo=None).isoformat(timespec="seconds")


def _direct_messages(entry, items: list, names: dict, owner: str, ctx) -> Iterator[Message]:
    for item in items:
        thread = dict_of(item, "dmConversation")
        if not thread:
            ctx.report.skip(entry.name, None, "direct-message item without dmConversation")
            continue
        # each event is {"<type>": {...}}; the archive lists them newest first
        events = [
            (event_type, body)
            for event in list_of(thread, "messages")
            if isinstance(event, dict)
            for event_type, body in event.items()
            if isinstance(body, dict)
        ]
        events.sort(key=lambda pair: text_of(pair[1], "createdAt"))
        title = _dm_title(thread, events, names)
        for event_type, body in events:
            try:
                message = _dm_message(event_type, body, title, names, owner)
                reason = f"direct-message {event_type} without text"
            except ValueError:
                message, reason = None, "direct message with an impossible createdAt"
            if message is None:
                where = f"{entry.name} (message {text_of(body, 'id') or '?'})"
                ctx.report.skip(where, None, reason)
            else:
                yield message


def _dm_title(thread: dict, events: list, names: dict) -> str:
    renamed = [text_of(body, "name") for kind, body in events if kind == "conversationNameUpdate"]
    if renamed and renamed[-1]:
        return renamed[-1]
    ids = text_of(thread, "conversationId").split("-")
    if len(ids) == 2 and all(part.isdigit() for part in ids):
        return "DM " + " & ".join(names.get(i, i) for i in ids)
    return f"DM group {text_of(thread, 'conversationId')}"


def _dm_message(event_type: str, body: dict, conversation: str, names: dict,
                owner: str) -> Message | None:
    time = time_of(body, "createdAt")
    if event_type == "messageCreate":
        sender = text_of(body, "senderId")
        text = html.unescape(text_of(body, "text"))
        kind = "media" if list_of(body, "mediaUrls") else "text"
        text = text or ("<media>" if kind == "media" else "")
        if not text or not sender:
            return None
        return Message(NAME, conversation, time, names.get(sender, sender), text, kind)
    if event_type == "joinConversation":
        # the archive owner joining; initiatingUserId is who added them, not who joined
        adder = text_of(body, "initiatingUserId")
        text = "joined the conversation" + (f", added by {names.get(adder, adder)}" if adder else "")
        return Message(NAME, conversation, time, owner, text, "system")
    # participantsLeave names who left only in userIds
    ids = [text_of(body, k) for k in ("initiatingUserId", "userId", "senderId")]
    ids += [user for user in list_of(body, "userIds") if isinstance(user, str)]
    actor = next(filter(None, ids), "")
    if event_type == "conversationNameUpdate":
        text = f"named the conversation {text_of(body, 'name')}"
    elif event_type in _DM_EVENTS:
        text = _DM_EVENTS[event_type]
    else:
        return None  # reactions and other events are not messages
    return Message(NAME, conversation, time, names.get(actor, actor or "unknown"), text, "system")
