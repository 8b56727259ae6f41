"""WhatsApp "Export chat" text (.txt, or the .txt inside the exported .zip), any locale.

Reading is two steps: learn the file's header layout from its first headers
(`whatsapp_dates.layout_of`), then stream every line through that one strict pattern.
A line that does not match continues the message before it. Dates are converted once
per distinct date text (cached), after the file's day/month order is known: messages
wait in a bounded look-ahead buffer until a date proves the order or the buffer fills.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from model.errors import InputError
from model.formats.whatsapp_dates import MARKS, Clock, layout_of, loose_match
from model.messages import Message

NAME = "whatsapp"
SNIFF_LINES = 200  # header-shaped lines are looked for among the first lines only
LAYOUT_HEADERS = 10  # headers read to vote the file's layout
LAYOUT_LINES = 5000  # … within at most this many lines

# --- what a message body can be besides text -------------------------------------------
# Placeholders WhatsApp writes instead of a file when media are left out of the export.
_MEDIA_PHRASES = (
    "Media omitted", "image omitted", "video omitted", "audio omitted", "sticker omitted",
    "GIF omitted", "document omitted", "Contact card omitted", "video note omitted",
    "Medien ausgeschlossen", "Bild weggelassen", "Video weggelassen", "Audio weggelassen",
    "Sticker weggelassen", "GIF weggelassen", "Dokument weggelassen",
    "Multimedia omitido", "imagen omitida", "video omitido", "audio omitido",
    "sticker omitido", "GIF omitido", "documento omitido",
    "Média omis", "Médias omis", "image absente", "vidéo absente", "audio omis",
    "Mídia oculta", "Arquivo de mídia oculto", "imagem ocultada", "vídeo omitido",
    "Media weggelaten", "afbeelding weggelaten", "video weggelaten", "audio weggelaten",
    "Media omessi", "media omessi", "immagine omessa", "video omesso", "audio omesso",
    "Без медиафайлов", "изображение отсутствует", "видео отсутствует",
    "Medya dahil edilmedi", "Media tidak disertakan", "تم استبعاد الوسائط",
    "Mídia omitida", "Medios omitidos", "Media omitida", "image omise", "vidéo omise",
    "áudio ocultado", "vídeo ocultado", "Medien ausgelassen", "Videonotiz ausgelassen",
    "Note vidéo omise", "Nota de video omitida", "Nota de vídeo omitida", "Media omesso",
    "Nota video omessa", "video message omitted",
)
_DELETED_PHRASES = (
    "This message was deleted", "You deleted this message",
    "Diese Nachricht wurde gelöscht", "Du hast diese Nachricht gelöscht",
    "Se eliminó este mensaje", "Eliminaste este mensaje", "Este mensaje fue eliminado",
    "Ce message a été supprimé", "Vous avez supprimé ce message",
    "Esta mensagem foi apagada", "Você apagou esta mensagem",
    "Questo messaggio è stato eliminato", "Hai eliminato questo messaggio",
    "Dit bericht is verwijderd", "Je hebt dit bericht verwijderd",
    "Данное сообщение удалено", "Вы удалили данное сообщение",
    "Bu mesaj silindi", "Bu mesajı sildiniz",
)


def _spellings(phrases: Iterable[str], bracketed: bool) -> frozenset[str]:
    """Every way an export writes a phrase: either initial case, with or without <> or a dot."""
    found = set()
    for phrase in phrases:
        for cased in (phrase, phrase[0].upper() + phrase[1:], phrase[0].lower() + phrase[1:]):
            found.update((cased, cased + "."))
            if bracketed:
                found.add(f"<{cased}>")
    return frozenset(found)


_MEDIA = _spellings(_MEDIA_PHRASES, bracketed=True)
_DELETED = _spellings(_DELETED_PHRASES, bracketed=False)
_ATTACHMENT = re.compile(
    r"<\s*(?:attached|Anhang|adjunto|pièce jointe|joint|anexo|allegato|bijlage)\s*:\s*[^>]+>\s*$"
    rf"|\.\w{{1,5}}\s*<[{MARKS}]*attached>$"
    r"|\.\w{1,5} \((?:file attached|Datei angehängt|archivo adjunto|fichier joint"
    r"|arquivo anexado|file allegato|bestand bijgevoegd|файл добавлен|dosya ekli)\)$"
)
_EDITED = re.compile(
    r"<(?:This message was edited|Diese Nachricht wurde bearbeitet"
    r"|Se editó este mensaje\.?|Ce message a été modifié|Mensagem editada"
    r"|Questo messaggio è stato modificato|Dit bericht is bewerkt|Сообщение изменено)>"
)
_BEFORE_EDITED = MARKS + " \t\n\u00a0\u202f"
# Placeholder and system-line checks look at a bounded part of a body, so that a
# pathological line (thousands of "<" or "hat") costs linear time, not quadratic.
_PLACEHOLDER_TAIL = 300
_ACTOR_HEAD = 200
# Bodies that are WhatsApp's, not the sender's: polls (their first line), calls, and
# messages the phone could not decrypt.
_SYSTEM_BODIES = frozenset(
    {"POLL:", "ENCUESTA:", "UMFRAGE:", "SONDAGE :", "ENQUETE:", "SONDAGGIO:"}
) | _spellings(
    (
        "Missed voice call", "Missed video call", "Missed group voice call",
        "Missed group video call", "Verpasster Sprachanruf", "Verpasster Videoanruf",
        "Llamada perdida", "Llamada de voz perdida", "Videollamada perdida",
        "Waiting for this message. This may take a while",
        "Waiting for this message. Check your phone",
    ),
    bracketed=False,
)
# System lines that name who did something: "Ana added Bo", "+1 555 created group "x"".
_ACTOR = re.compile(
    r"(?P<actor>.+?) (?:created group|created this group|added \S|removed \S|left$"
    r"|joined using this (?:group|community)'s invite link|changed the subject"
    r"|changed this group's|changed the group|deleted this group's|changed their phone number"
    r"|turned (?:on|off) disappearing messages|pinned a message|started a (?:video |voice )?call"
    r"|hat die Gruppe|hat \S.* hinzugefügt|hat \S.* entfernt|hat den Betreff|hat das Gruppenbild"
    r"|creó el grupo|añadió a|eliminó a|salió del grupo|cambió el"
    r"|a créé le groupe|a ajouté|a retiré|est parti|a changé"
    r"|criou o grupo|adicionou|removeu|saiu|mudou)"
)
# iOS attributes system notices to the chat; these name no actor at all.
_ACTORLESS = re.compile(
    r"Messages and calls are end-to-end encrypted|Messages to this group are now secured"
    r"|Your security code with|You were added|Nachrichten und Anrufe sind Ende-zu-Ende"
    r"|Los mensajes y las llamadas están cifrados|Les messages et les appels sont chiffrés"
)
_PLACEHOLDERS = _MEDIA | _DELETED | _SYSTEM_BODIES  # one lookup on the common path
_MARK_SET = frozenset(MARKS)
# New exports show people not in the address book as "~ Ana" (U+202F after the tilde).
_SENDER_STRIP = MARKS + "~ \u00a0\u202f"
_SENDER_NOISE = frozenset(MARKS + "~")
_SENDER_END_NOISE = frozenset(MARKS + " \u00a0\u202f")  # French writes "Ana : text"
_CLOSERS = frozenset(">)")  # last characters of attachment lines
_QUOTES = re.compile("[\"“”„«»]")
_WHATSAPP_NAME = re.compile("whatsapp", re.IGNORECASE)


def sniff(entry) -> bool:
    """At least two WhatsApp header lines near the top of the file."""
    found = 0
    for line in entry.head_text().splitlines()[:SNIFF_LINES]:
        if loose_match(line) is not None:
            found += 1
            if found == 2:
                return True
    return False


def parse(entry, ctx) -> Iterator[Message]:
    numbered = enumerate(entry.lines(), 1)
    head = _read_head(numbered)
    layout = layout_of([line for _, line in head])
    if layout is None:
        raise InputError(
            f"no WhatsApp message header in the first {len(head)} lines", entry.name
        )
    conversation = conversation_name(entry.relpath, ctx.tree.name, ctx.tree.is_single_file)
    clock = Clock(layout, entry.name)
    raw = _raw_messages(itertools.chain(head, numbered), layout.pattern.match, entry.name, ctx.report)
    senders: set[str] = set()
    for stamp, rest, extra in clock.stamped(raw):
        cut = rest.find(": ")
        if cut < 0 or (_QUOTES.search(rest, 0, cut) and _ACTOR.match(rest, 0, _ACTOR_HEAD)):
            sender, text, kind = _without_sender(rest, senders)
        else:
            sender, text, kind = rest[:cut], rest[cut + 2 :], "text"
            if sender[:1] in _SENDER_NOISE or sender[-1:] in _SENDER_END_NOISE:
                sender = sender.strip(_SENDER_STRIP)
            if text[:1] in _MARK_SET:  # iOS marks its notices and placeholders with U+200E
                text = text.lstrip(MARKS)
                kind = _placeholder_kind(text) or "system"
                if kind == "system":
                    sender = _system_actor(text, sender)
            elif text in _PLACEHOLDERS or text[-1:] in _CLOSERS:
                kind = _placeholder_kind(text) or "text"
            senders.add(sender)
        if extra is not None:
            text = "\n".join([text, *extra])
        if text[-1:] == ">":
            text = _without_edit_marker(text)
        yield Message(NAME, conversation, stamp, sender, text, kind)


def conversation_name(relpath: str, tree_name: str, single_file: bool) -> str:
    """WhatsApp's own file name ("WhatsApp Chat with Ana"), from the .txt or its zip."""
    inner = PurePosixPath(relpath)
    stem, folder = inner.stem, inner.parent.name
    outer = "" if single_file else PurePosixPath(tree_name.replace("\\", "/")).stem
    for candidate in (stem, folder, outer):
        if _WHATSAPP_NAME.search(candidate):
            return candidate
    if stem == "_chat":  # iOS names the text "_chat.txt" inside its zip
        return folder or outer or stem
    return stem


def _read_head(numbered: Iterator[tuple[int, str]]) -> list[tuple[int, str]]:
    """Lines up to the LAYOUT_HEADERS-th header-shaped one (kept, to be parsed afterwards)."""
    head = []
    headers = 0
    for item in numbered:
        head.append(item)
        if loose_match(item[1]) is not None:
            headers += 1
            if headers == LAYOUT_HEADERS:
                break
        if len(head) == LAYOUT_LINES:  # memory stays bounded on files that are not exports
            break
    return head


def _raw_messages(numbered, match, name, report) -> Iterator[list]:
    """[line number, date text, time text, rest of header line, continuation lines or None]."""
    current = None
    for number, line in numbered:
        header = match(line)
        if header is None:
            if current is None:
                if line.strip():
                    report.skip(name, number, "text before the first WhatsApp message header")
            elif current[4] is None:
                current[4] = [line]
            else:
                current[4].append(line)
            continue
        if current is not None:
            yield current
        current = [number, header["date"], header["time"], header["rest"], None]
    if current is not None:
        yield current


def _without_edit_marker(text: str) -> str:
    """"see you <This message was edited>" -> "see you" (the marker ends the message)."""
    start = text.rfind("<")
    if _EDITED.fullmatch(text, start):
        return text[:start].rstrip(_BEFORE_EDITED)
    return text


def _placeholder_kind(text: str) -> str | None:
    """media / deleted / system for WhatsApp's placeholder bodies, else None."""
    if text in _MEDIA or _ATTACHMENT.search(text, max(0, len(text) - _PLACEHOLDER_TAIL)):
        return "media"
    if text in _DELETED:
        return "deleted"
    if text in _SYSTEM_BODIES:
        return "system"
    return None


def _without_sender(rest: str, senders: set[str]) -> tuple[str, str, str]:
    """A header line with no "Name: ": a system line, or a known sender's "Ana:." message."""
    colon = rest.find(":")
    if colon > 0 and rest[:colon] in senders:
        return rest[:colon], rest[colon + 1 :].lstrip(), "text"
    return _system_actor(rest, ""), rest, "system"


def _system_actor(text: str, fallback: str) -> str:
    """Who did what a system line says ("Ana added Bo" -> Ana); `fallback` when it names no one."""
    match = _ACTOR.match(text, 0, _ACTOR_HEAD)
    if match is not None:
        return match.group("actor").strip(MARKS)
    if _ACTORLESS.match(text):
        return ""
    return fallback
