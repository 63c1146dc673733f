"""FHIR dates at day resolution, as real systems send them.

A ``date``/``dateTime``/``instant`` is read by its leading ``YYYY-MM-DD`` (the local date it was
written in); ``YYYY-MM`` and ``YYYY`` read as the first day (``last_day`` gives the last day
they can stand for). Anything else is None, never a guess.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse(value: Any) -> dt.date | None:
    return _parse_text(value) if isinstance(value, str) else None


@functools.lru_cache(maxsize=4096)
def _parse_text(value: str) -> dt.date | None:
    # a chart repeats its dates (one per day of results): read each once
    m = _DATE.match(value.strip())
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2] or 1), int(m[3] or 1))
    except ValueError:
        return None


def last_day(value: Any) -> dt.date | None:
    """The last day a date can stand for: 31 December of a ``YYYY``, the month's end of a
    ``YYYY-MM``, the day itself otherwise."""
    day = parse(value)
    if day is None or not isinstance(value, str):
        return day
    m = _DATE.match(value.strip())
    if m and m[2] is None:
        return dt.date(day.year, 12, 31)
    if m and m[3] is None:
        return dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    return day


def first(resource: Mapping[str, Any], *fields: str) -> dt.date | None:
    """The first of ``fields`` that holds a date; ``xPeriod`` fields give their start."""
    for name in fields:
        value = resource.get(name)
        if type(value) is not str and isinstance(value, Mapping):  # str: no ABC check
            value = value.get("start") or value.get("end")
        day = parse(value)
        if day is not None:
            return day
    return None


def completed_years(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def age_days(day: dt.date, as_of: dt.date) -> int:
    return (as_of - day).days
