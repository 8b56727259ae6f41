"""Personal data in chat text -> placeholder tokens (the pairs' `scrub_pii` step).

Replaced in this order, so an earlier kind wins where two overlap:

    <url>      http(s)://…, www.…, a bare domain with a path
    <email>    name@domain.tld
    <iban>     country code, 2 check digits, 11-30 letters/digits (spaces allowed), mod-97 valid
    <card>     13-19 digits passing the Luhn check
    <phone>    7-15 digits with the separators people type (not a date, a year or time range)
    <secret>   what follows "password is", "pin:", "locker code was"… (the cue stays)
    <address>  a house number and a street: "42 Maple Lane", "Hauptstr. 5", "Rua Augusta, 45";
               a UK or Canadian postcode: "NW1 6XE", "K1A 0B1" (lower case after "postcode")
    <number>   any other run of 5+ digits, typed together or apart ("73914", "7 3 9 1 4")

Ordinary numbers stay: ages, times, dates, years and year ranges, prices, "room 101".
The placeholders are tokens of their own in the tokenizer and are never generated.
"""

from __future__ import annotations

import re

PII_TOKENS = ("<phone>", "<email>", "<url>", "<card>", "<iban>", "<secret>", "<address>",
              "<number>")

_DIGIT = re.compile(r"\d")
# A placeholder as a model may write it back, with the space before it.
_PLACEHOLDER = re.compile(r"\s*(?:" + "|".join(map(re.escape, PII_TOKENS)) + ")")
_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"']+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|ly|co|me|app|dev)/[^\s<>\"']*")
_EMAIL = re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b")
# Groups of 4 as IBANs are printed, or run together; the end is found by the checksum.
_IBAN = re.compile(r"(?i)\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,4})?\b")
IBAN_COUNTRIES = frozenset({
    "AD", "AE", "AL", "AT", "AZ", "BA", "BE", "BG", "BH", "BI", "BR", "BY", "CH", "CR",
    "CY", "CZ", "DE", "DJ", "DK", "DO", "EE", "EG", "ES", "FI", "FK", "FO", "FR", "GB",
    "GE", "GI", "GL", "GR", "GT", "HR", "HU", "IE", "IL", "IQ", "IS", "IT", "JO", "KW",
    "KZ", "LB", "LC", "LI", "LT", "LU", "LV", "LY", "MC", "MD", "ME", "MK", "MN", "MR",
    "MT", "MU", "NI", "NL", "NO", "OM", "PK", "PL", "PS", "PT", "QA", "RO", "RS", "RU",
    "SA", "SC", "SD", "SE", "SI", "SK", "SM", "SO", "ST", "SV", "TL", "TN", "TR", "UA",
    "VA", "VG", "XK", "YE"})
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# 7+ digits with the separators people type; a leading + or ( counts as part of the number.
# Not inside a hyphen-joined word ("31267496-e50f-…": a UUID, a speaker id, a hash).
_PHONE = re.compile(r"(?<![\w+])(?<!\w-)(?:\+|00)?\(?\d[\d\s().-]{5,}\d(?!\w|-\w)")
# Digit shapes that are not phone numbers: dates, year ranges, time ranges, amounts.
_NOT_PHONE = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
    r"|\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+[.,]\d{1,2}"
    r"|(?:19|20)\d\d(?:\s*[-./\s]\s*(?:19|20)\d\d)+|\d{1,2}[.:]\d\d\s*-\s*\d{1,2}[.:]\d\d")

# A cue, optionally "for the wifi", then is/was/:/=, then the secret itself. Strong cues
# name a secret whatever follows; weak ones ("code", "pin") only when digits follow.
_STRONG_CUES = r"pass(?:word|code|phrase)|passwort|pwd?|contrase[ñn]a|senha|mot de passe"
_WEAK_CUES = r"pin(?: code| number)?|code|combo|combination"
_SECRET = re.compile(
    rf"(?i)\b(?:(?P<strong>{_STRONG_CUES})|(?P<weak>{_WEAK_CUES}))"
    r"(?:\s+(?:for|to|of|on|at)\s+(?:the\s+|my\s+|your\s+|our\s+)?[\w-]+)?"
    r"\s*(?:(?:is|was|es|é|ist|est)\b(?:\s+(?:now|still|just))?\s*[:=]?|[:=]|['’]s\b)\s*"
    r"(?P<value>\d(?:[ .-]?\d)*(?!\w)|[^\s<>\"]+)")
_CUE_STEMS = ("pass", "pw", "pin", "code", "combo", "combination", "contrase", "senha")
# After a strong cue these say something about the password, they are not one.
_NOT_SECRET = frozenset({
    "the", "a", "an", "my", "your", "his", "her", "our", "their", "its", "it", "this",
    "that", "not", "no", "wrong", "right", "correct", "incorrect", "same", "different",
    "too", "so", "very", "really", "still", "now", "just", "also", "changed", "expired",
    "reset", "weak", "strong", "long", "short", "easy", "hard", "simple", "secret", "saved",
    "written", "in", "on", "at", "for", "what", "something", "required", "needed", "case",
    "protected"})
_TRAILING = ".,;:!?)]}\"'’…"

# House number, 1-3 words of a street name, a street type: "42 Maple Lane", "9 elm st".
_STREET_EN = re.compile(
    r"(?i)\b(?P<number>\d{1,5}[a-z]?)\s+"
    r"(?P<name>(?:(?:\d+(?:st|nd|rd|th)|[^\W\d_][\w'’-]*)\s+){1,3}?)"
    r"(?P<type>st|street|ave|avenue|rd|road|ln|lane|blvd|boulevard|dr|drive)\b")
_NAME_STOPWORDS = frozenset({
    "the", "a", "an", "my", "your", "his", "her", "our", "their", "this", "that", "these",
    "those", "of", "to", "in", "on", "at", "for", "from", "by", "with", "down", "up",
    "across", "along", "around", "and", "or", "more", "other", "every", "each", "some",
    "any", "min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours", "mile", "miles",
    "km", "day", "days"})
# A street in lower case is an address only after a cue: "at 9 elm st", not "5 star road trip".
_ADDRESS_CUE = re.compile(r"(?i)(?:\b(?:at|is|live|lives|living|address)|@)\s*$")
# Other languages, where cheap: "Hauptstraße 5", "Berliner Str. 12", "Calle Mayor 12",
# "Rua Augusta, 45", "Via Roma 10", "12 rue de la Paix".
_STREET_OTHER = re.compile(
    r"(?i)(?:\b(?:(?-i:[A-ZÄÖÜ])[^\W\d_]*[ -])?[^\W\d_]*(?:straße|strasse|str\.|allee|gasse|platz|weg)"
    r"\s+\d{1,4}[a-z]?\b"
    r"|\b(?:calle|c/|avenida|avda\.?|rua|travessa|(?-i:Via|Viale|Corso|Piazza))\s+"
    r"(?:(?:de|del|la|las|los|da|do|das|dos|di|della|dei)\s+)*[^\W\d_][\w'’-]*"
    r"(?:\s+[^\W\d_][\w'’-]*){0,2}?,?\s*(?:n[º°o]\.?\s*)?\d{1,4}[a-z]?\b"
    r"|\b\d{1,4}(?:\s*(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|chemin|allée|impasse)\s+"
    r"(?:(?:de|du|des|la|le|les)\s+|[ld]['’])*[^\W\d_][\w'’-]*)")
# Postcodes by the letters each place may hold. Written in capitals, or in any case right
# after a cue ("my postcode is nw1 6xe"): "mp3", "a4 paper" stay words. The UK shape also
# fits a size or an ordinal after a model name ("PS4 1TB", "M25 2ND exit"): those stay,
# at the cost of the few real postcodes ending so.
_POSTCODES = (
    r"(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?\ ?(?!\d(?:[GT]B|ST|ND|RD|TH)\b)\d[ABD-HJLNP-UW-Z]{2}"
    r"|[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\ ?\d[ABCEGHJ-NPRSTV-Z]\d)\b"
)
_POSTCODE = re.compile(rf"\b{_POSTCODES}")
_CUED_POSTCODE = re.compile(
    rf"(?i)(?P<cue>\b(?:post ?code|postal code|zip(?: code)?)(?:\s+is)?\s*:?\s*){_POSTCODES}"
)
# Digit groups apart by single spaces, not parts of a decimal or a thousands-separated number.
_DIGIT_RUN = re.compile(r"(?<![\w.,:/-])\d+(?: \d+)*(?!\w|[.,:/]\d|-\w)")


def scrub_pii(text: str) -> str:
    """Replace personal data with the PII_TOKENS placeholders (see the module's list)."""
    # Substring tests first: most chat lines hold none of these, and scanning a line with
    # `in` costs a fraction of a regex search.
    lowered = text.lower()
    if "/" in text or "www." in lowered:
        text = _URL.sub("<url>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if _DIGIT.search(text):
        text = _IBAN.sub(_iban, text)
        text = _CARD.sub(lambda m: "<card>" if _luhn_ok(m.group()) else m.group(), text)
        text = _PHONE.sub(lambda m: "<phone>" if _is_phone(m.group()) else m.group(), text)
    if any(cue in lowered for cue in _CUE_STEMS):
        text = _SECRET.sub(_secret, text)
    if _DIGIT.search(text):
        text = _STREET_EN.sub(_street, text)
        text = _STREET_OTHER.sub("<address>", text)
        text = _CUED_POSTCODE.sub(r"\g<cue><address>", text)
        text = _POSTCODE.sub("<address>", text)
        text = _DIGIT_RUN.sub(_digit_run, text)
    return text


def _iban(match: re.Match) -> str:
    """The longest prefix (ending at a group) that is a valid IBAN; else no change."""
    text = match.group()
    ends = [i for i, c in enumerate(text) if c == " "] + [len(text)]
    for end in reversed(ends):
        if iban_ok(text[:end]):
            return "<iban>" + text[end:]
    return text


def iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or compact[:2] not in IBAN_COUNTRIES:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _is_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    return 7 <= digits <= 15 and not _NOT_PHONE.fullmatch(candidate.strip())


def _secret(match: re.Match) -> str:
    value = match.group("value")
    kept = value.rstrip(_TRAILING)
    if match.group("strong"):
        is_secret = kept and kept.lower() not in _NOT_SECRET
    else:  # "the code is 42 lines" holds no code
        is_secret = sum(c.isdigit() for c in kept) >= 3
    if not is_secret:
        return match.group()
    start = match.start("value") - match.start()
    return match.group()[:start] + "<secret>" + value[len(kept):]


def _street(match: re.Match) -> str:
    name = match.group("name").split()
    if any(word.lower() in _NAME_STOPWORDS for word in name):
        return match.group()
    # "10 Downing Street", but not "1970 Plymouth road runner"
    capitalised = not name[0][0].islower() and match.group("type")[0].isupper()
    cued = _ADDRESS_CUE.search(match.string, 0, match.start())
    return "<address>" if capitalised or cued else match.group()


def _digit_run(match: re.Match) -> str:
    groups = match.group().split(" ")
    if sum(map(len, groups)) < 5 or all(_is_year(g) for g in groups):
        return match.group()
    return "<number>"


def _is_year(group: str) -> bool:
    return len(group) == 4 and group[:2] in ("19", "20")


def strip_placeholders(text: str) -> str:
    """A generated reply without the placeholders that scrubbing left in its training
    text: "<phone>" is no answer to anybody, on any channel."""
    return (_PLACEHOLDER.sub("", text) if "<" in text else text).strip()
