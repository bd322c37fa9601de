"""Reporting periods: a month (2026-11), an ISO week (2026-W47), a quarter (2026-Q4), a
day (2026-11-20) or an explicit range (--from/--to), each with the period before it."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from qa.errors import InputError

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$", re.IGNORECASE)
_QUARTER_RE = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)


@dataclass(frozen=True)
class Period:
    """Calendar days `start` to `end`, both included, and how the period is written."""

    start: dt.date
    end: dt.date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> "Period":
        """The period of the same kind just before this one."""
        if _MONTH_RE.match(self.label):
            last = self.start - dt.timedelta(days=1)
            return month(last.year, last.month)
        if _WEEK_RE.match(self.label):
            year, week, _ = (self.start - dt.timedelta(days=7)).isocalendar()
            return iso_week(year, week)
        if _QUARTER_RE.match(self.label):
            last = self.start - dt.timedelta(days=1)
            return quarter(last.year, (last.month - 1) // 3 + 1)
        end = self.start - dt.timedelta(days=1)
        start = end - dt.timedelta(days=self.days - 1)
        return Period(start, end, _range_label(start, end))


def month(year: int, number: int) -> Period:
    last = calendar.monthrange(year, number)[1]
    return Period(dt.date(year, number, 1), dt.date(year, number, last), f"{year:04d}-{number:02d}")


def iso_week(year: int, week: int) -> Period:
    start = dt.date.fromisocalendar(year, week, 1)
    return Period(start, start + dt.timedelta(days=6), f"{year:04d}-W{week:02d}")


def quarter(year: int, number: int) -> Period:
    first_month = 3 * (number - 1) + 1
    last = month(year, first_month + 2).end
    return Period(dt.date(year, first_month, 1), last, f"{year:04d}-Q{number}")


def _range_label(start: dt.date, end: dt.date) -> str:
    return start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"


def _date(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(option, "", f"{text!r} is not a date (expected YYYY-MM-DD)") from None


def parse_period(period: str | None = None, start: str | None = None,
                 end: str | None = None, today: dt.date | None = None) -> Period:
    """The period a report covers, from `--period` or from `--from`/`--to`.

    Raises InputError for an unreadable period, a range that ends before it starts, or a
    period that starts in the future (there is nothing to report yet)."""
    today = today or dt.date.today()
    if period and (start or end):
        raise InputError("--period", "", "give either --period or --from/--to, not both")
    if period:
        text = period.strip()
        try:
            if m := _MONTH_RE.match(text):
                result = month(int(m.group(1)), int(m.group(2)))
            elif m := _WEEK_RE.match(text):
                result = iso_week(int(m.group(1)), int(m.group(2)))
            elif m := _QUARTER_RE.match(text):
                result = quarter(int(m.group(1)), int(m.group(2)))
            else:
                day = _date(text, "--period")
                result = Period(day, day, day.isoformat())
        except ValueError as exc:  # month 13, week 54
            raise InputError("--period", "", f"{text!r} is not a valid period ({exc})") from None
    elif start or end:
        if not (start and end):
            raise InputError("--from/--to", "", "give both --from and --to")
        first, last = _date(start, "--from"), _date(end, "--to")
        if last < first:
            raise InputError("--from/--to", "", f"--to {last} is before --from {first}")
        result = Period(first, last, _range_label(first, last))
    else:
        raise InputError("--period", "", "give --period (2026-11, 2026-W47, 2026-Q4, a day) "
                                         "or --from and --to")
    if result.start > today:
        raise InputError("--period", "", f"{result.label} is in the future (today is "
                                         f"{today.isoformat()}): nothing has been scored yet")
    return result
