"""WhatsApp header layouts: find them, compile one pattern per file, turn them into ISO times.

Every WhatsApp message starts with a header whose shape depends on the phone's locale:

    [27/03/2022, 21:41:35] Ana: …        iOS
    27.03.22, 21:41 - Ana: …             Android, German
    3/27/22, 9:41 PM - Ana: …            Android, US (U+202F before PM on new phones)
    2022. 3. 27. 오후 9:41 - Ana: …        Korean
    [21:41:35, 27/3/2022] Ana: …         Vietnamese (time first)
    13.6.2018 klo 21.25.15 - Ana: …      Finnish

`LOOSE_HEADERS` accept any of these. From the first headers of a file we build a skeleton
(the header with digits and the AM/PM word abstracted) and compile it into one strict
pattern, so later lines must match the file's own layout to start a new message: a
continuation line that merely looks like a date stays part of its message.

Day/month order is a property of the file (`DayOrder`): any first field above 12 proves
day-first, any second field above 12 proves month-first; otherwise the reading under which
the dates run forward in the smallest steps wins; failing all evidence the locale default
is assumed.

A month written as a name (WhatsApp for Android around 2013-2015: "19:23, 28 Aug 2013",
"Mar 5, 8:11 PM", "18 Mar 12:14") settles the order, but Android wrote the year only for
dates outside the year of the export, so a file may show it for its first dates and not
after, or never. A date without its year (`Clock._named_date`) takes the year of the date
before, plus one where that date showed its year (the export's own year is a later one)
or lay more than DAYS_BACK_IN_ONE_YEAR days later in the year (a New Year between), so a
wrong year never makes times run back. The first dates' year is the first year the file shows,
a header's or a media file's (IMG-20140305-WA0001.jpg came that day), counted back over
the New Years between; nothing outside the file tells it (a file's modification time is
the time it was copied or unpacked). A file that shows none is read from PLACEHOLDER_YEAR,
2000, with a warning: its dates keep their order and distances, not their year.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

LOOKAHEAD_HEADERS = 5000  # messages held back at most while day/month order is unknown
# The year of dates that leave it out, when nothing in the file shows it: a leap year (29
# February exists) before WhatsApp (2009), so that it cannot pass for the real one.
PLACEHOLDER_YEAR = 2000
# A date that leaves its year out and lies more than this many days before the one above
# it is in the next year. Exports run back by up to a few weeks now and then (late
# deliveries, phones' clocks; in public exports whose years are written): no New Year.
DAYS_BACK_IN_ONE_YEAR = 31

log = logging.getLogger(__name__)

# Directional marks WhatsApp sprinkles into headers and around phone numbers, and the
# zero-width no-break space some tools leave before headers (WhatsR's German samples).
MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_M = f"[{MARKS}]*"
_SP = "[ \u00a0\u202f]"  # space, no-break space, narrow no-break space

# AM/PM words as phones write them (morning, afternoon). English-style a.m./p.m. in all
# spellings is one pattern; in the others a dot may be left out and a space may be a
# no-break one.
_AMPM_PAIRS = (
    ("vorm.", "nachm."),  # German
    ("ap.", "ip."),  # Finnish
    ("de.", "du."),  # Hungarian
    ("dop.", "odp."),  # Czech, Slovak
    ("vm.", "nm."),  # Afrikaans
    ("f.h.", "e.h."),  # Icelandic
    ("fm", "em"),  # Swedish
    ("PG", "PTG"),  # Malay
    ("SA", "CH"),  # Vietnamese (sáng / chiều)
    ("ÖÖ", "ÖS"),  # Turkish
    ("π.μ.", "μ.μ."),  # Greek
    ("ص", "م"),  # Arabic
    ("ق.ظ.", "ب.ظ."),  # Persian
    ("قبل دوپہر", "بعد دوپہر"),  # Urdu
    ("לפנה״צ", "אחה״צ"),  # Hebrew
    ("午前", "午後"),  # Japanese
    ("오전", "오후"),  # Korean
    ("上午", "下午"),  # Chinese
    ("ก่อนเที่ยง", "หลังเที่ยง"),  # Thai
    ("पूर्वाह्न", "अपराह्न"),  # Hindi
    ("পূর্বাহ্ণ", "অপরাহ্ণ"),  # Bengali
    ("முற்பகல்", "பிற்பகல்"),  # Tamil
)
_AMPM_STRIP = str.maketrans("", "", ". \u00a0\u202f")


def _marker_key(word: str) -> str:
    return word.translate(_AMPM_STRIP).lower()


def _marker_regex(word: str) -> str:
    return "".join(
        r"\.?" if c == "." else f"{_SP}?" if c == " " else re.escape(c) for c in word
    )


_AMPM_WORDS = {"am": False, "pm": True}  # marker key -> is it the afternoon
_AMPM_WORDS.update({_marker_key(am): False for am, _ in _AMPM_PAIRS})
_AMPM_WORDS.update({_marker_key(pm): True for _, pm in _AMPM_PAIRS})
_AMPM = "|".join(
    [rf"[aApP]\.?{_SP}?[mM]\.?"]  # AM, am, a.m., a. m., p.m (with no-break spaces)
    + sorted(
        (_marker_regex(word) for pair in _AMPM_PAIRS for word in pair), key=len, reverse=True
    )
)
_AMPM_RE = re.compile(_AMPM)

# Japanese eras written before the year, by the year they began: 令和4 / R4 -> 2022,
# 平成30 / H30 -> 2018; an era's first year may be written 元 (令和元 -> 2019).
_ERA_STARTS = {
    "明治": 1868, "M": 1868, "大正": 1912, "T": 1912, "昭和": 1926, "S": 1926,
    "平成": 1989, "H": 1989, "令和": 2019, "R": 2019,
}
_ERA = "|".join(sorted(_ERA_STARTS, key=len, reverse=True))
_ERA_YEAR = r"(?:\d{1,2}|元)"
_FIELD = rf"(?:(?:{_ERA}){_ERA_YEAR}|\d{{1,4}})"
# Thai phones may name the Buddhist era after the year: "3/18/2565 BE", "18/3/2565 พ.ศ.".
_BUDDHIST = rf"{_SP}(?:BE|พ\.ศ\.)"

_DSEP = rf"(?:[./\-]{_SP}?|年|月)"
_NUMERIC_DATE = rf"{_FIELD}{_M}{_DSEP}{_M}\d{{1,4}}{_M}{_DSEP}{_M}{_FIELD}(?:\.|日)?(?:{_BUDDHIST})?"

# Months written as words, as WhatsApp for Android wrote them around 2013-2015: the public
# exports that do are English ("19:23, 28 Aug 2013", "Mar 5, 8:11 PM", "18 Mar 12:14");
# full names and en-GB's "Sept" are English too. A language with samples adds its words.
_MONTH_WORDS = (
    ("Jan", "January"), ("Feb", "February"), ("Mar", "March"), ("Apr", "April"), ("May",),
    ("Jun", "June"), ("Jul", "July"), ("Aug", "August"), ("Sep", "Sept", "September"),
    ("Oct", "October"), ("Nov", "November"), ("Dec", "December"),
)
MONTH_NUMBERS = {
    word.casefold(): number for number, words in enumerate(_MONTH_WORDS, 1) for word in words
}
_MONTH = rf"(?i:{'|'.join(sorted(MONTH_NUMBERS, key=len, reverse=True))})(?![^\W\d_])\.?"
_MONTH_RE = re.compile(_MONTH)
# Day and month, or month and day, then the year only where it is not the export's own.
_YEAR_AFTER = rf"(?:,?{_SP}\d{{4}})?"
_DAY_MONTH = rf"\d{{1,2}}{_SP}{_MONTH}{_YEAR_AFTER}"
_MONTH_DAY = rf"{_MONTH}{_SP}\d{{1,2}}{_YEAR_AFTER}"
_DATE = rf"(?:(?P<numeric>{_NUMERIC_DATE})|{_DAY_MONTH}|{_MONTH_DAY})"
# Android names a media file by the day it came: IMG-20140305-WA0001.jpg, PTT-…, VID-…
_MEDIA_FILE_DAY = re.compile(r"\b[A-Z]{3}-(?P<year>20\d\d)(?P<month>\d\d)(?P<day>\d\d)-WA\d+")
# A word we do not know in the AM/PM place (a locale missing from _AMPM_PAIRS): accepted
# only right before " - " or "]", and which word means afternoon is learned per file.
_WORD = rf"[^\s\d\-–\[\]:,،.{MARKS}][^\s\d\-–\[\]:,،{MARKS}]{{0,15}}"
_TIME = (
    rf"(?:(?:{_AMPM}){_M}{_SP}?{_M})?\d{{1,2}}{_M}[:.]{_M}\d{{2}}(?:{_M}[:.]{_M}\d{{2}})?"
    rf"(?:{_M}{_SP}?{_M}(?:{_AMPM})"
    rf"|{_M}{_SP}{_M}{_WORD}(?:{_SP}{_WORD})?(?={_M}(?:{_SP}*[-–]{_SP}|\])))?"
)
_BETWEEN = rf"(?:[,،]{_SP}*|{_SP}+)(?:(?:klo|kl\.|à|um){_SP}+)?"
_DASH = rf"{_SP}*[-–]{_SP}+"
# A month's name is Android's, always before " - ": imessage-exporter's "Jan 02, 2023
# 4:05:06 PM (Read by you…)" is no WhatsApp header.
_AFTER = rf"(?(numeric)(?:{_DASH}|:{_SP}|{_SP})|{_DASH})"
LOOSE_HEADERS = (
    re.compile(
        rf"{_M}\[?{_M}(?P<date>{_DATE}){_M}{_BETWEEN}{_M}(?P<time>{_TIME}){_M}\]?{_AFTER}{_M}(?P<rest>.+)"
    ),
    re.compile(
        rf"{_M}\[?{_M}(?P<time>{_TIME}){_M}{_BETWEEN}{_M}(?P<date>{_DATE}){_M}\]?{_AFTER}{_M}(?P<rest>.+)"
    ),
)
_TOKEN = re.compile(rf"(?P<era>(?:{_ERA})(?=\d|元))|\d+|元|[{MARKS}]+|.", re.S)
_CLOCK = re.compile(r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?")
_NO_MARKS = str.maketrans("", "", MARKS)
_NUMBER = re.compile(r"\d+")
_DATE_FIELD = re.compile(rf"(?P<era>{_ERA})?(?P<number>\d+|元)")  # a date's numbers, era or not


def loose_match(line: str) -> re.Match | None:
    """The header match of `line` in any known layout, else None."""
    for pattern in LOOSE_HEADERS:
        match = pattern.match(line)
        if match is not None:
            return match
    return None


def _skeleton_regex(text: str) -> str:
    """Regex for one header piece: digits generalised, marks allowed anywhere."""
    parts = [_M]
    era = False  # the token before was an era: this one is its year
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token[0] in MARKS:
            continue
        if era:
            parts.append(_ERA_YEAR)
        elif match.lastgroup == "era":
            parts.append(f"(?:{_ERA})")
        elif token.isdigit():
            parts.append(r"\d{1,2}" if len(token) <= 2 else r"\d{3,4}")
        elif token in " \u00a0\u202f":
            parts.append(_SP)
        else:
            parts.append(re.escape(token))
        parts.append(_M)
        era = match.lastgroup == "era"
    return "".join(parts)


def _date_regex(text: str) -> str:
    """Regex for the date piece: its skeleton, or any day of either form if its month is a name
    (the year comes and goes within one file)."""
    if _MONTH_RE.search(text) is None:
        return _skeleton_regex(text)
    return _MONTH_DAY if _MONTH_RE.match(text.lstrip(MARKS)) else _DAY_MONTH


def _time_regex(text: str) -> str:
    """Regex for the time piece: the clock, and any AM/PM word before or after it as a slot."""
    clock = _CLOCK.search(text)
    if clock is None:  # marks inside the clock digits: no AM/PM word to generalise
        return _skeleton_regex(text)
    before, after = text[: clock.start()], text[clock.end() :]
    return _marker_slot(before) + _skeleton_regex(clock.group()) + _marker_slot(after)


def _marker_slot(text: str) -> str:
    """Spaces and marks as written; an AM/PM word as any known one (or any word, if unknown)."""
    word = text.strip(MARKS + " \u00a0\u202f")
    if not word:
        return _skeleton_regex(text)
    slot = f"(?:{_AMPM})" if _AMPM_RE.fullmatch(word) else f"(?:{_WORD}(?:{_SP}{_WORD})?)"
    lead, trail = text.split(word, 1)
    return _skeleton_regex(lead) + slot + _skeleton_regex(trail)


@dataclass
class Layout:
    """One file's header layout: the strict pattern and what its date fields mean."""

    pattern: re.Pattern  # groups: date, time, rest
    year_index: int  # which of the three date fields is the year
    seconds: bool  # does the export show seconds
    learn_markers: bool  # AM/PM words of an unknown locale: learn which is which
    month_named: bool  # "28 Aug 2013", "Mar 5": the year may be left out


def layout_of(lines: list[str]) -> Layout | None:
    """The layout most of the header-shaped `lines` share (None when none is a header)."""
    votes: dict[str, list[re.Match]] = {}
    for line in lines:
        match = loose_match(line)
        if match is not None:
            votes.setdefault(_pattern_source(line, match), []).append(match)
    if not votes:
        return None
    source, matches = max(votes.items(), key=lambda item: len(item[1]))
    first = matches[0]
    return Layout(
        pattern=re.compile(source),
        year_index=_year_index([match.group("date") for match in matches]),
        seconds=len(_NUMBER.findall(first.group("time"))) == 3,
        learn_markers=marker_key(first.group("time")) not in {"", *_AMPM_WORDS},
        month_named=_MONTH_RE.search(first.group("date")) is not None,
    )


def _pattern_source(line: str, match: re.Match) -> str:
    """The strict pattern of one header: its literal punctuation, digits and AM/PM generalised."""
    (start1, end1), (start2, end2) = sorted([match.span("date"), match.span("time")])
    names = ("date", "time") if start1 == match.start("date") else ("time", "date")
    piece = {"date": _date_regex, "time": _time_regex}
    return "".join(
        (
            _skeleton_regex(line[:start1]),
            f"(?P<{names[0]}>{piece[names[0]](line[start1:end1])})",
            _skeleton_regex(line[end1:start2]),
            f"(?P<{names[1]}>{piece[names[1]](line[start2:end2])})",
            _skeleton_regex(line[end2 : match.start("rest")]),
            "(?P<rest>.+)",
        )
    )


def _year_index(dates: list[str]) -> int:
    """The year is the field written with 3-4 digits or an era; with 2-digit years, the last."""
    for date in dates:
        fields = _DATE_FIELD.findall(date)
        for index, (era, number) in enumerate(fields):
            if era or len(number) >= 3:
                return index
        if int(fields[0][1]) > 31:
            return 0
    return 2


def day_month(date: str, year_index: int) -> tuple[int, int, int]:
    """(year, first, second) of a date text: the two non-year fields in written order."""
    fields = _DATE_FIELD.findall(date)
    era, year_text = fields.pop(year_index)
    if era:
        year = _ERA_STARTS[era] - 1 + (1 if year_text == "元" else int(year_text))
    else:
        year = int(year_text)
        if len(year_text) <= 2:
            # WhatsApp dates from 2009: "09".."49" are 20xx; "50".."99" can only be a short
            # Buddhist year (Thai phones write 2565 as 65), 2550 BE being 2007.
            year += 2000 if year < 50 else 2500 - 543
        elif year >= 2400:  # Buddhist era (Thai): 2565 -> 2022
            year -= 543
    return year, int(fields[0][1]), int(fields[1][1])


def marker_key(time: str) -> str:
    """The AM/PM word of a time text, normalised ("9:41 p. m." -> "pm"; "" when none)."""
    return _marker_key(_CLOCK.sub("", time.translate(_NO_MARKS)))


def iso_time(time: str, seconds: bool, markers: dict[str, bool]) -> str:
    """"9:41 PM" -> "21:41", "21.25.15" -> "21:25:15" (seconds only when the layout has them).

    `markers` maps AM/PM words (marker_key) to "is afternoon"; unknown words leave the hour.
    """
    numbers = _NUMBER.findall(time)
    hour, minute = int(numbers[0]), int(numbers[1])
    afternoon = markers.get(marker_key(time))
    if afternoon is not None:
        hour = hour % 12 + (12 if afternoon else 0)
    if seconds:
        return f"{hour:02d}:{minute:02d}:{int(numbers[2]):02d}"
    return f"{hour:02d}:{minute:02d}"


class DayOrder:
    """Decides whether a file writes day or month first, from the evidence of its dates."""

    def __init__(self, year_index: int):
        # Year-first dates are year-month-day everywhere; others default to day-first.
        self.default_day_first = year_index != 0
        self.day_first: bool | None = None  # None until decided
        self.proven = False

    def learn(self, first: int, second: int) -> bool:
        """Take one date as evidence; True when it proves the order (for the first time)."""
        if self.proven:
            return False
        if first > 12 >= second:
            self.day_first = True
        elif second > 12 >= first:
            self.day_first = False
        else:
            return False
        self.proven = True
        return True

    def decide_from_sequence(self, dates: list[tuple[int, int, int]]) -> bool:
        """No date proved the order: read it from the chronology. True when that decided it.

        A chat runs (nearly) forward in time and its days follow each other closely, so
        the reading with fewer steps back, then fewer days between consecutive dates, wins
        ("1/2, 1/3 … 1/10" is nine days of January, not the firsts of nine months). When
        both read equally well the default holds. A capital AM/PM would hint at a US phone
        (month-first), but not reliably enough to beat it: "3/6/18, 1:55 PM" alone is read
        day-first, as upstream's test vectors expect.
        """
        plausibility = {day_first: _chronology(dates, day_first) for day_first in (True, False)}
        if plausibility[True] == plausibility[False]:
            self.day_first = self.default_day_first
            return False
        self.day_first = plausibility[True] < plausibility[False]
        return True

    def iso_date(self, year: int, first: int, second: int) -> str | None:
        """ISO date under the decided order; a date impossible that way is read the other way."""
        day, month = (first, second) if self.day_first else (second, first)
        if month > 12:
            day, month = month, day
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        if 1300 <= year < 1500:  # Solar Hijri, the default calendar of Persian phones
            return _solar_hijri_to_gregorian(year, month, day).isoformat()
        try:  # 30 February, or 29 February of a year without one, is no date
            return datetime.date(year, month, day).isoformat()
        except ValueError:
            return None


def _chronology(dates: list[tuple[int, int, int]], day_first: bool) -> tuple[int, int]:
    """(steps back in time, total days between consecutive dates) of dates read one way."""
    backwards = days = 0
    previous = None
    for year, first, second in dates:
        day, month = (first, second) if day_first else (second, first)
        try:
            ordinal = datetime.date(year, month, day).toordinal()
        except ValueError:  # a 0 in a field: impossible either way, no evidence
            continue
        if previous is not None:
            backwards += ordinal < previous
            days += abs(ordinal - previous)
        previous = ordinal
    return backwards, days


def _solar_hijri_to_gregorian(year: int, month: int, day: int) -> datetime.date:
    """1401/1/7 -> 2022-03-27 by the 33-year leap rule (matches every Nowruz 1386-1409)."""
    year += 1595
    days = 365 * year + (year // 33) * 8 + (year % 33 + 3) // 4 + day
    days += (month - 1) * 31 if month < 7 else (month - 7) * 30 + 186
    return datetime.date.fromordinal(days - 355668 - 365)


class Clock:
    """Header date/time texts -> ISO local times, under the file's day/month order.

    Dates and times are converted once per distinct text (most messages share them).
    """

    def __init__(self, layout: Layout, name: str, day_first: bool | None = None):
        """`day_first`: the order, where the caller knows it (a month written as a name)."""
        self.layout = layout
        self.name = name
        self.order = DayOrder(layout.year_index)
        if layout.month_named:  # the number beside a month's name is its day
            day_first = True
        if day_first is not None:
            self.order.day_first, self.order.proven = day_first, True
        self.markers = dict(_AMPM_WORDS)
        self.dates: dict[str, str | None] = {}
        self.times: dict[str, str] = {}
        # month_named: each date's (year or None, month, day), and the walk through them
        self.named: dict[str, tuple[int | None, int, int]] = {}
        self.year = PLACEHOLDER_YEAR
        self.previous = (0, False)  # (_day_of_year, year written) of the date before

    def stamped(self, raw: Iterator[list]) -> Iterator[tuple[str | None, str, list | None]]:
        """[number, date, time, rest, extra] -> (ISO time, rest, extra) in file order.

        Messages are held back until a date proves the order (and, for unknown AM/PM
        words, until enough of them have shown which comes first in a day) or
        LOOKAHEAD_HEADERS are held; then the order under which dates run forward in the
        smallest steps (else the default) is used, and a later proof of the other order
        switches it.
        """
        held = []
        seen: dict[str, tuple[int, int, int]] = {}
        switches: Counter = Counter()  # (word, next word) on the same day
        previous = ("", "")
        dated = not self.layout.month_named  # a month's name: the year may wait for evidence
        for item in raw:
            held.append(item)
            date = item[1]
            if self.layout.month_named:
                dated = dated or self._year_shown(date, item[3]) is not None
            elif date not in seen:
                fields = seen[date] = day_month(date, self.layout.year_index)
                self.order.learn(fields[1], fields[2])
            if self.layout.learn_markers:
                word = marker_key(item[2])
                if previous[0] == date and previous[1] != word:
                    switches[previous[1], word] += 1
                previous = (date, word)
            learned = not self.layout.learn_markers or max(switches.values(), default=0) >= 3
            if (self.order.proven and learned and dated) or len(held) >= LOOKAHEAD_HEADERS:
                break
        if self.order.day_first is None:
            if self.order.decide_from_sequence(list(seen.values())):
                log.info(
                    "%s: day/month order read from the succession of dates: %s-first",
                    self.name, "day" if self.order.day_first else "month",
                )
            else:
                log.warning(
                    "%s: day/month order not proven by the first %d messages; reading %s-first",
                    self.name, len(held), "day" if self.order.day_first else "month",
                )
        if self.layout.learn_markers:
            self._learn_markers(switches)
        if self.layout.month_named:
            self.year = self._first_year(held)
        for number, date, time, rest, extra in itertools.chain(held, raw):
            iso_date = self.dates.get(date)
            if iso_date is None and date not in self.dates:
                iso_date = self._new_date(date, number)
            clock = self.times.get(time)
            if clock is None:
                clock = self.times[time] = iso_time(time, self.layout.seconds, self.markers)
            if extra is not None:
                while extra and not extra[-1].strip():
                    extra.pop()
                extra = extra or None
            yield (f"{iso_date}T{clock}" if iso_date else None), rest, extra

    def _learn_markers(self, switches: Counter) -> None:
        """Within one day the morning word comes before the afternoon word."""
        scores = {pair: n - switches[pair[::-1]] for pair, n in switches.items()}
        best = max(scores, key=scores.get, default=None)
        if best is None or scores[best] <= 0:
            log.warning("%s: cannot tell AM from PM in this export; times read as written", self.name)
            return
        morning, afternoon = best
        self.markers.update({morning: False, afternoon: True})

    def _new_date(self, date: str, number: int) -> str | None:
        if self.layout.month_named:  # not cached: a year left out depends on the dates before
            return self._named_date(date)
        year, first, second = day_month(date, self.layout.year_index)
        assumed = self.order.day_first
        if self.order.learn(first, second) and self.order.day_first != assumed:
            log.warning(
                "%s:%d: this date proves %s-first order; earlier dates were read the other way",
                self.name, number, "day" if self.order.day_first else "month",
            )
            self.dates.clear()
        iso_date = self.dates[date] = self.order.iso_date(year, first, second)
        return iso_date

    def _ymd(self, date: str) -> tuple[int | None, int, int]:
        fields = self.named.get(date)
        if fields is None:
            fields = self.named[date] = _year_month_day(date)
        return fields

    def _year_shown(self, date: str, rest: str) -> int | None:
        """The year a message shows: its header's, else a media file's named for that day."""
        year, month, day = self._ymd(date)
        if year is None:
            media = _MEDIA_FILE_DAY.search(rest)
            if media is not None and (int(media["month"]), int(media["day"])) == (month, day):
                year = int(media["year"])
        return year

    def _first_year(self, held: list[list]) -> int:
        """The year of the first date: the first one a message shows, counted back over the
        New Years between them; else PLACEHOLDER_YEAR."""
        new_years, before = 0, 0
        for _, date, _, rest, _ in held:
            _, month, day = self._ymd(date)
            new_years += before - _day_of_year(month, day) > DAYS_BACK_IN_ONE_YEAR
            before = _day_of_year(month, day)
            year = self._year_shown(date, rest)
            if year is not None:
                return year - new_years
        log.warning(
            "%s: no year in this export's dates; read as %d on, a year later at each New Year",
            self.name, PLACEHOLDER_YEAR,
        )
        return PLACEHOLDER_YEAR

    def _named_date(self, date: str) -> str | None:
        """ISO date of "28 Aug 2013" or "Mar 5": a year left out is the one of the date
        before, or the next after a New Year (a date well before the one above it) or after
        a written year (Android wrote the year only for dates outside the export's year)."""
        year, month, day = self._ymd(date)
        written = year is not None
        if not written:
            before, before_written = self.previous
            if before_written or before - _day_of_year(month, day) > DAYS_BACK_IN_ONE_YEAR:
                self.year += 1
            year = self.year
        self.year = year
        self.previous = (_day_of_year(month, day), written)
        return self.order.iso_date(year, day, month)


def _year_month_day(date: str) -> tuple[int | None, int, int]:
    """(year or None, month, day) of a date whose month is a name: "28 Aug 2013", "Mar 5"."""
    numbers = _NUMBER.findall(date)
    month = MONTH_NUMBERS[_MONTH_RE.search(date).group().rstrip(".").casefold()]
    return (int(numbers[1]) if len(numbers) > 1 else None), month, int(numbers[0])


def _day_of_year(month: int, day: int) -> int:
    """Days into the year, counting every month as 31 days: near enough to tell a New Year."""
    return month * 31 + day
