"""The active-days truth: DAU/WAU/MAU and retention cohorts obey their definitions on any activity,
and on the generator's own traffic agree with a plain recount of its facts."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pulse.generator.activity import ActiveDays, days_of_range, utc_day
from pulse.generator.population import DEVICES, REGIONS
from pulse.generator.traffic import TrafficConfig, TrafficGenerator

BASE = date(2026, 11, 1)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)

#: user -> the day offsets (from BASE) the user was active on
activity = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3), st.frozensets(st.integers(0, 40), min_size=1), max_size=30
)
instants = st.integers(0, 45 * 86_400_000).map(lambda ms: MIDNIGHT + timedelta(milliseconds=ms))


def active_days(users: dict[str, frozenset[int]]) -> ActiveDays:
    days: defaultdict[date, set[str]] = defaultdict(set)
    for user, offsets in users.items():
        for offset in offsets:
            days[BASE + timedelta(days=offset)].add(user)
    return ActiveDays({day: frozenset(active) for day, active in days.items()})


@settings(max_examples=200, deadline=None)
@given(activity, instants)
def test_mau_holds_wau_holds_dau(users: dict[str, frozenset[int]], end: datetime) -> None:
    row = active_days(users).active_users(end)
    day = (end - timedelta(milliseconds=1)).date()
    assert row.measured_day == day
    assert row.dau <= row.wau <= row.mau <= len(users)
    assert 0.0 <= row.stickiness <= 1.0

    def active_within(days: int) -> int:  # users with an active day among the `days` ending the measured one
        return sum(1 for offsets in users.values() if any(0 <= (day - BASE).days - o < days for o in offsets))

    assert (row.dau, row.wau, row.mau) == (active_within(1), active_within(7), active_within(30))


@settings(max_examples=200, deadline=None)
@given(activity, instants, instants)
def test_cohorts_partition_the_new_users_and_retention_never_exceeds_the_cohort(
    users: dict[str, frozenset[int]], a: datetime, b: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    truth = active_days(users)
    rows = truth.cohorts(start, end)
    first, last = days_of_range(start, end)
    sizes = {row.cohort_day: row.users for row in rows if row.day_offset == 0}
    new_users = {u for u, offsets in users.items() if first <= BASE + timedelta(days=min(offsets)) <= last}
    assert sum(sizes.values()) == len(new_users)
    for row in rows:
        assert row.cohort_day in sizes  # every cohort has its day-0 row: all its users were active then
        assert 0 < row.users <= sizes[row.cohort_day]
        assert row.retention == row.users / sizes[row.cohort_day]
        assert first <= row.cohort_day <= row.cohort_day + timedelta(days=row.day_offset) <= last
    assert all(row.retention == 1.0 for row in rows if row.day_offset == 0)


@settings(max_examples=200, deadline=None)
@given(activity, instants, instants, instants)
def test_a_cohort_does_not_depend_on_where_the_range_starts(
    users: dict[str, frozenset[int]], a: datetime, b: datetime, c: datetime
) -> None:
    """A later start drops the earlier cohorts (their users stay out, not re-cohorted) and keeps the rest."""
    early, late, end = sorted((a, b, c))
    truth = active_days(users)
    late_first, _ = days_of_range(late, end)
    kept = [row for row in truth.cohorts(early, end) if row.cohort_day >= late_first]
    assert truth.cohorts(late, end) == kept


@settings(max_examples=100, deadline=None)
@given(activity, instants, instants)
def test_per_day_is_the_dau_of_each_active_day_in_range(
    users: dict[str, frozenset[int]], a: datetime, b: datetime
) -> None:
    start, end = min(a, b), max(a, b)
    truth = active_days(users)
    first, last = days_of_range(start, end)
    expected = {
        BASE + timedelta(days=d): n
        for d in range(41)
        if first <= BASE + timedelta(days=d) <= last and (n := sum(1 for offsets in users.values() if d in offsets))
    }
    assert truth.per_day(start, end) == expected


def test_a_range_covers_the_days_whose_midnight_is_before_its_end() -> None:
    assert days_of_range(MIDNIGHT, MIDNIGHT + timedelta(days=2)) == (BASE, BASE + timedelta(days=1))
    assert days_of_range(MIDNIGHT, MIDNIGHT + timedelta(days=2, milliseconds=1)) == (BASE, BASE + timedelta(days=2))
    assert days_of_range(MIDNIGHT + timedelta(hours=23), MIDNIGHT + timedelta(days=1)) == (BASE, BASE)
    assert days_of_range(MIDNIGHT, MIDNIGHT) == (BASE, BASE - timedelta(days=1))


def test_generated_days_equal_a_recount_and_filters_partition_the_users() -> None:
    """Three days of generated traffic: each day's users are the ones its facts name, and users split
    by country (one per user) add up to the whole at every window."""
    start = MIDNIGHT + timedelta(hours=20)
    generator = TrafficGenerator(TrafficConfig(seed=7, start=start, rate=0.05, users=800, posts=300, campaigns=2))
    facts = [fact for batch in generator.batches(seconds=3 * 86_400) for fact in batch.facts]
    population = generator.population
    truth = ActiveDays.from_facts(facts, population.user_ids)
    recount: defaultdict[date, set[str]] = defaultdict(set)
    for fact in facts:
        recount[utc_day(fact[0])].add(population.user_ids[fact[2]])
    assert truth.days == recount
    assert len(truth.days) == 4  # 20:00 on day 0 to 20:00 on day 3
    end = start + timedelta(days=3)
    total = truth.active_users(end)
    by_country: defaultdict[str, set[str]] = defaultdict(set)
    by_device: defaultdict[str, set[str]] = defaultdict(set)
    for user, uid in enumerate(population.user_ids):
        by_country[REGIONS[population.region[user]].country].add(uid)
        by_device[DEVICES[population.device[user]].device_type].add(uid)
    for split in (by_country, by_device):
        parts = [truth.among(users).active_users(end) for users in split.values()]
        assert sum(p.dau for p in parts) == total.dau
        assert sum(p.mau for p in parts) == total.mau
    cohorts = truth.cohorts(MIDNIGHT, end)
    assert sum(row.users for row in cohorts if row.day_offset == 0) == total.mau
    assert any(row.day_offset > 0 for row in cohorts), "nobody came back: the traffic cannot test retention"
