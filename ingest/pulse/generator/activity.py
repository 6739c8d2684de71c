"""Which users were active on which UTC day, and the DAU/WAU/MAU and retention cohorts that follow.

The ground truth of the named queries ``active_users``, ``active_users_per_day`` and
``retention_cohorts``, with their semantics restated once here so the end-to-end tests can demand
equality: a user is active on a day when any of their events (every kind, ``identify`` included)
has an event time on that UTC day; a query's range ``[from, to)`` covers the days from ``from``'s
day whose midnight is before ``to`` (ClickHouse's ``day >= toDate(from) AND day < to``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from pulse.generator.truth import Fact

_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)
WEEK_DAYS = 7  # WAU: the measured day and the 6 before it
MONTH_DAYS = 30  # MAU: the measured day and the 29 before it


@dataclass(frozen=True)
class ActiveUsers:
    """One row of ``active_users``: the range end's day and the users active in the windows ending it."""

    measured_day: date
    dau: int
    wau: int
    mau: int
    stickiness: float  # dau / mau, 0 without users (the query rounds it to 4 places)


@dataclass(frozen=True)
class CohortDay:
    """One row of ``retention_cohorts``: of the users first active on ``cohort_day``, those active
    ``day_offset`` days later."""

    cohort_day: date
    day_offset: int
    users: int
    retention: float  # users / cohort size (the query rounds it to 4 places)


def utc_day(time_ms: int) -> date:
    return _EPOCH + timedelta(days=time_ms // _MS_PER_DAY)


def days_of_range(start: datetime, end: datetime) -> tuple[date, date]:
    """The first and last day a ``[from, to)`` range covers (``day >= toDate(from) AND day < to``);
    the first is after the last when it covers none."""
    first = start.astimezone(UTC).date()
    end_utc = end.astimezone(UTC)
    last = end_utc.date() if end_utc.time() != datetime.min.time() else end_utc.date() - timedelta(days=1)
    return first, last


@dataclass(frozen=True)
class ActiveDays:
    """Users active per UTC day (user ids as the warehouse stores them)."""

    days: Mapping[date, frozenset[str]]

    @classmethod
    def from_facts(cls, facts: Iterable[Fact], user_ids: Sequence[str]) -> ActiveDays:
        """From the generator's facts; ``user_ids`` maps a fact's user index to its id (the population's)."""
        by_day: defaultdict[int, set[int]] = defaultdict(set)
        for fact in facts:
            by_day[fact[0] // _MS_PER_DAY].add(fact[2])
        return cls(
            {
                _EPOCH + timedelta(days=day): frozenset(user_ids[user] for user in users)
                for day, users in sorted(by_day.items())
            }
        )

    def among(self, users: Collection[str]) -> ActiveDays:
        """The same activity for a subset of users (a dashboard filter on a per-user attribute)."""
        chosen = frozenset(users)
        kept = {day: active & chosen for day, active in self.days.items()}
        return ActiveDays({day: active for day, active in kept.items() if active})

    def users_between(self, first: date, last: date) -> frozenset[str]:
        """Distinct users active on any day from ``first`` to ``last``, both included."""
        return frozenset().union(*(users for day, users in self.days.items() if first <= day <= last))

    def per_day(self, start: datetime, end: datetime) -> dict[date, int]:
        """``active_users_per_day``: DAU of every day of the range that has any activity."""
        first, last = days_of_range(start, end)
        return {day: len(users) for day, users in self.days.items() if first <= day <= last}

    def active_users(self, end: datetime) -> ActiveUsers:
        """``active_users`` for a range ending at ``end``: the measured day is the one holding ``end - 1 ms``."""
        day = (end.astimezone(UTC) - timedelta(milliseconds=1)).date()
        dau = len(self.days.get(day, ()))
        wau = len(self.users_between(day - timedelta(days=WEEK_DAYS - 1), day))
        mau = len(self.users_between(day - timedelta(days=MONTH_DAYS - 1), day))
        return ActiveUsers(day, dau, wau, mau, dau / mau if mau else 0.0)

    def first_days(self, before: date) -> dict[str, date]:
        """Each user's first active day up to ``before`` (included): who belongs to which cohort."""
        first: dict[str, date] = {}
        for day in sorted(d for d in self.days if d <= before):
            for user in self.days[day]:
                first.setdefault(user, day)
        return first

    def cohorts(self, start: datetime, end: datetime) -> list[CohortDay]:
        """``retention_cohorts``: a cohort is the users whose first active day (ever, up to the range's
        last day) is in the range; a row per cohort and later day of the range with any of them active."""
        first, last = days_of_range(start, end)
        members: defaultdict[date, set[str]] = defaultdict(set)
        for user, day in self.first_days(last).items():
            if day >= first:
                members[day].add(user)
        rows: list[CohortDay] = []
        for cohort_day, cohort in sorted(members.items()):
            for day in sorted(d for d in self.days if cohort_day <= d <= last):
                retained = len(self.days[day] & cohort)
                if retained:
                    rows.append(CohortDay(cohort_day, (day - cohort_day).days, retained, retained / len(cohort)))
        return rows
