"""The amount a figure's printed text gives: "£125.4 million" -> 125400000, "£949K" -> 949000.

One reader for both `kb new`, which fills in `amount` from the text, and `kb validate`, which checks
that the amount written is the one the text prints; and `typed_pounds`, the savings bounds a reader
types on the search page or gives `kb search`."""
from __future__ import annotations

import re

UNITS = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
NUMBER = r"\d[\d,]*(?:\.\d+)?"
# A range ("£2-3 million", "£2 to 3m") takes the unit after its second number, so it is read with it.
MONEY = re.compile(rf"£\s*({NUMBER})(\s*(?:-|\u2013|to)\s*£?\s*{NUMBER})?\s*(k|thousand|m|million|bn|billion)?\b", re.I)
# ...and so is a range of percentages ("2-3%", "20 to 30 per cent"), so its lower end is read, as for money
PERCENT = re.compile(r"(\d+(?:\.\d+)?)(\s*(?:-|\u2013|to)\s*\d+(?:\.\d+)?)?\s*(?:%|per ?cent)", re.I)


def in_pounds(number: str, unit: str | None) -> float:
    """A number as printed ("1,500", "2.5") in a unit of UNITS ("m", "million"; none: pounds), in pounds."""
    return round(float(number.replace(",", "")) * UNITS.get((unit or "").lower(), 1), 2)


def money_value(match: re.Match) -> int | float:
    """The amount of a MONEY match: its first (or only) number in its unit."""
    value = in_pounds(match.group(1), match.group(3))
    return int(value) if value == int(value) else value


def amount_of(text: str) -> dict:
    """`amount` (GBP) or `percent` read from a figure as printed: "£125.4 million" -> 125400000; the
    first and lower amount of a range ("£2-3 million" -> 2000000, "2-3%" -> 2)."""
    money = MONEY.search(text)
    if money:
        return {"amount": money_value(money)}
    percent = PERCENT.search(text)
    if percent:
        return {"percent": float(percent.group(1)) if "." in percent.group(1) else int(percent.group(1))}
    return {}


def printed_amount(text: str) -> int | float | None:
    """The amount the text prints when it prints exactly one, plainly: None for a text with no £
    figure, a range, or several £ figures ("between £10 million and £15 million"), which the amount
    may fairly read more than one way."""
    found = list(MONEY.finditer(text))
    if len(found) != 1 or found[0].group(2):
        return None
    return money_value(found[0])


# a year or a financial year in a figure's text ("by end 2012/13", "for 2011/12"): when it was, not how much
YEAR = re.compile(r"\b(?:19|20)\d\d(?:\s*[/\u2013-]\s*\d{2,4})?\b")
BARE = re.compile(rf"({NUMBER})\s*(k|thousand|m|million|bn|billion)?\b", re.I)
SCALES = (1, 1e3, 1e6, 1e9)  # a number printed in a table of pounds, thousands, millions or billions


def printed_bare_amounts(text: str) -> list[int | float] | None:
    """For a text with no £ figure that prints exactly one number besides its years ("0.577", "27.7m by
    end 2012/13", "(2.4)"), the amounts it may stand for: that number in the unit printed after it, else
    in pounds, thousands, millions or billions (a report's table says which in its heading, not in the
    cell). None when the text prints a £ figure, a percentage, or not exactly one number."""
    if MONEY.search(text) or PERCENT.search(text):
        return None
    found = list(BARE.finditer(YEAR.sub(" ", text)))
    if len(found) != 1:
        return None
    number = float(found[0].group(1).replace(",", ""))
    unit = (found[0].group(2) or "").lower()
    scales = (UNITS[unit],) if unit else SCALES
    return [int(v) if v == int(v) else v for v in (round(number * scale, 2) for scale in scales)]


# A period that says the source gives none ("not stated", "period not given", "years not known")
PERIOD_UNKNOWN = re.compile(r"(?:period |years? )?not (?:stated|given|known)\b", re.I)


def printed_period(period: str) -> str:
    """A figure's period as printed, without the notes some carry in brackets ("2013/14 (£ millions, table)")."""
    return re.sub(r"\s*\(.*\)\s*$", "", period).strip() or period


def period_unstated(period: str | None) -> bool:
    """Whether a figure's period says only that the source gives none ("not stated"; "total since 2013
    (years covered not stated)" gives a total)."""
    return bool(PERIOD_UNKNOWN.match(printed_period(period or "")))


def printed_percent(text: str) -> int | float | None:
    """The percentage the text prints when it prints exactly one, plainly (None otherwise, as for
    `printed_amount`)."""
    found = list(PERCENT.finditer(text))
    if len(found) != 1 or found[0].group(2):
        return None
    return float(found[0].group(1))


# what may stand between the two ends of a range printed as two amounts ("£3 million to £5 million");
# "and" only after "between" ("£1m and £2m" may be two sums)
RANGE_JOIN = re.compile(r"\s*(?:-|\u2013|to)\s*", re.I)
BETWEEN_JOIN = re.compile(r"\s*and\s*", re.I)


def printed_range(text: str | None) -> str | None:
    """The range a figure's text prints, exactly as printed ("£2-3 million", "between £10 million and
    £15 million", "2-3%"); None when it prints one amount, several that are no range, or none. Pages
    show this where they would show the figure's amount, which holds the range's lower end only."""
    if not text:
        return None
    found = list(MONEY.finditer(text))
    if len(found) == 1 and found[0].group(2):
        return found[0].group(0).strip()
    if len(found) == 2:
        start, join = found[0].start(), text[found[0].end():found[1].start()]
        between = re.search(r"\bbetween\s+$", text[:start], re.I)
        if RANGE_JOIN.fullmatch(join) or (between and BETWEEN_JOIN.fullmatch(join)):
            return text[between.start() if between else start:found[1].end()].strip()
    percents = list(PERCENT.finditer(text))
    if not found and len(percents) == 1 and percents[0].group(2):
        return percents[0].group(0).strip()
    return None


# An amount of pounds as people type it: 250000, 250,000, £250,000 or 1500000.50, and as finance officers
# write it, with a unit: £1m, £1.5m, 250k, 1 million, £2bn. Nothing else: no exponents (1e309 is inf), no
# nan or inf, no minus, no stray commas ("1,0,0").
TYPED = re.compile(r"£?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\s*(k|thousand|m|million|bn|billion)?", re.ASCII | re.I)
MAX_TYPED = 1e15


def typed_pounds(raw: str) -> float:
    """A savings bound as typed ("£250,000") in pounds; ValueError saying how to write it otherwise."""
    typed = TYPED.fullmatch(raw.strip()) if len(raw) <= 40 else None
    if typed is None:
        raise ValueError("must be an amount in pounds, such as 250000, £250,000, £250k or £1.5m")
    value = in_pounds(typed.group(1), typed.group(2))
    if value > MAX_TYPED:
        raise ValueError(f"must be at most £{MAX_TYPED:,.0f}")
    return value
