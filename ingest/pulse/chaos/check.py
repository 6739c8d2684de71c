"""A chaos run's verdict: every acknowledged event once in `events`, rollups equal to the truth,
Redis equal to ClickHouse for the live window, the archive tiling every offset once, every rejected
event dead-lettered with its reason."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from pulse.chaos import reconcile
from pulse.generator.segment import iso_ms
from pulse.generator.truth import TruthReport
from pulse.hot.keys import Keys
from pulse.settings import Settings

STORED_BY_ID = "SELECT message_id, count() FROM events WHERE source = {source:String} GROUP BY message_id"
STORED_TIMES = """
SELECT message_id, event, toUnixTimestamp64Milli(event_time) FROM events
WHERE source = {source:String} AND message_id IN {ids:Array(String)}
"""
SOURCE_PER_MINUTE = """
SELECT formatDateTime(toStartOfMinute(event_time), '%Y-%m-%dT%H:%i:00Z') AS minute, event, count()
FROM events WHERE source = {source:String} GROUP BY minute, event
"""
#: Each rollup fed by materialized views from `events`, against `events` itself, over the run's minutes.
ROLLUP_VS_RAW = {
    "events_per_minute": """
SELECT minute, event, sum(events) FROM events_per_minute
WHERE minute BETWEEN toStartOfMinute(parseDateTime64BestEffort({a:String}, 3))
                 AND toStartOfMinute(parseDateTime64BestEffort({b:String}, 3))
GROUP BY minute, event""",
    "events_per_second": """
SELECT toStartOfMinute(second) AS minute, event, sum(events) FROM events_per_second
WHERE second BETWEEN toStartOfMinute(parseDateTime64BestEffort({a:String}, 3))
                 AND toStartOfMinute(parseDateTime64BestEffort({b:String}, 3)) + INTERVAL 59 SECOND
GROUP BY minute, event""",
}
RAW_PER_MINUTE = """
SELECT toStartOfMinute(event_time) AS minute, event, count() FROM events
WHERE event_time >= toStartOfMinute(parseDateTime64BestEffort({a:String}, 3))
  AND event_time < toStartOfMinute(parseDateTime64BestEffort({b:String}, 3)) + INTERVAL 1 MINUTE
GROUP BY minute, event
"""
DEAD_LETTERS = "SELECT payload, reason FROM rejected_events WHERE source = {source:String}"
#: A skew-corrected event lands this close to its true time (the request's transit time).
SKEW_CORRECTED_WITHIN_MS = 5_000


@dataclass
class Verdict:
    offered: int = 0
    acknowledged: int = 0
    unacknowledged: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    stored_unacknowledged: int = 0
    skewed: int = 0
    skew_moved_minute: int = 0
    rollup_mismatches: int = 0
    hot_mismatches: int = 0
    archive_problems: int = 0
    dead_letters_sent: int = 0
    dead_letters_found: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def merge_per_minute(truths: list[TruthReport]) -> Counter[tuple[str, str]]:
    merged: Counter[tuple[str, str]] = Counter()
    for truth in truths:
        for minute, kinds in truth.per_minute.items():
            for kind, count in kinds.items():
                merged[minute, kind] += count
    return merged


def _minute(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def check_events(
    client: Client,
    verdict: Verdict,
    source: str,
    truths: list[TruthReport],
    acked: set[str],
    skewed: dict[str, int],
) -> None:
    """Exactly once per acknowledged id, and per minute x kind equal to the truth (skew-corrected times allowed)."""
    verdict.acknowledged = sum(t.events for t in truths)
    verdict.unacknowledged = sum(t.unacknowledged.events for t in truths)
    verdict.offered = verdict.acknowledged + verdict.unacknowledged
    if len(acked) != verdict.acknowledged:
        verdict.problems.append(f"the transport saw {len(acked)} acknowledged ids, the truth {verdict.acknowledged}")
    counts = {mid: int(n) for mid, n in client.query(STORED_BY_ID, parameters={"source": source}).result_rows}
    verdict.stored = sum(counts.values())
    verdict.lost = len(acked - counts.keys())
    verdict.duplicated = sum(n - 1 for n in counts.values() if n > 1)
    verdict.stored_unacknowledged = len(counts.keys() - acked)
    if verdict.lost:
        verdict.problems.append(f"{verdict.lost} acknowledged events are not in events")
    if verdict.duplicated:
        verdict.problems.append(f"{verdict.duplicated} events are stored more than once")
    unacked_ids = {mid for t in truths for mid in t.unacknowledged.message_ids}
    strays = counts.keys() - acked - unacked_ids
    if strays:
        verdict.problems.append(f"{len(strays)} stored events were never sent")

    expected = merge_per_minute(truths)
    verdict.skewed = len(skewed)
    ids = [mid for mid in skewed if mid in acked]
    for start in range(0, len(ids), 5_000):
        chunk = ids[start : start + 5_000]
        for mid, kind, stored_ms in client.query(STORED_TIMES, parameters={"source": source, "ids": chunk}).result_rows:
            true_ms = skewed[mid]
            if abs(int(stored_ms) - true_ms) > SKEW_CORRECTED_WITHIN_MS:
                verdict.problems.append(f"{mid}: skew not corrected ({int(stored_ms) - true_ms} ms off)")
            if _minute(true_ms) != _minute(int(stored_ms)):
                verdict.skew_moved_minute += 1
                expected[_minute(true_ms), kind] -= 1
                expected[_minute(int(stored_ms)), kind] += 1
    if unacked_ids & counts.keys():  # acknowledged late: stored, but not in the truth's minutes
        verdict.problems.append("unacknowledged events were stored: per-minute figures cannot be compared exactly")
        return
    actual = Counter(
        {(m, e): int(n) for m, e, n in client.query(SOURCE_PER_MINUTE, parameters={"source": source}).result_rows}
    )
    diff = {key for key in expected.keys() | actual.keys() if expected[key] != actual[key]}
    if diff:
        sample = sorted(diff)[:3]
        verdict.problems.append(
            f"{len(diff)} minute x kind counts differ from the truth, e.g. "
            + ", ".join(f"{k}: stored {actual[k]} truth {expected[k]}" for k in sample)
        )


def check_rollups(client: Client, verdict: Verdict, first: str, last: str) -> None:
    """Every rollup equals `events` over the run's minutes: a view that double-counts or drops shows here."""
    window = {"a": first, "b": last}
    raw = {(m, e): int(n) for m, e, n in client.query(RAW_PER_MINUTE, parameters=window).result_rows}
    for table, query in ROLLUP_VS_RAW.items():
        rolled = {(m, e): int(n) for m, e, n in client.query(query, parameters=window).result_rows}
        diff = {k for k in raw.keys() | rolled.keys() if raw.get(k, 0) != rolled.get(k, 0)}
        verdict.rollup_mismatches += len(diff)
        if diff:
            key = sorted(diff)[0]
            verdict.problems.append(
                f"{table}: {len(diff)} minute x event cells differ from events, e.g. {key}: "
                f"{rolled.get(key, 0)} rolled up, {raw.get(key, 0)} raw"
            )


def check_hot(
    settings: Settings, client: Client, verdict: Verdict, first_ms: int, last_ms: int, timeout_s: float = 60.0
) -> None:
    """Redis equals ClickHouse for the part of the run still inside the hot layer's retention."""
    from pulse.tls import sync_redis

    r = sync_redis(settings.redis, decode_responses=True)
    live_from = int((time.time() - settings.hot.retention_s + 90) * 1000)
    first = iso_ms(max(first_ms, live_from))
    last = iso_ms(last_ms)
    keys = Keys(settings.hot.key_prefix)
    deadline = time.monotonic() + timeout_s
    diff: dict[tuple[str, str], tuple[int, int]] = {}
    while True:
        ch, hot = reconcile.hot_counts(r, keys, first, last, client)
        diff = {k: (ch[k], hot[k]) for k in ch if ch[k] != hot[k]}
        if not diff or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    verdict.hot_mismatches = len(diff)
    if diff:
        verdict.problems.append(
            f"{len(diff)} Redis counters differ from ClickHouse (clickhouse, redis): {list(diff.items())[:3]}"
        )


def check_archive(settings: Settings, verdict: Verdict, timeout_s: float = 120.0) -> None:
    """The archive tiles every partition's offsets [0, end) exactly once."""
    ends = reconcile.end_offsets(settings)
    deadline = time.monotonic() + timeout_s
    while not reconcile.archived_through(settings, ends) and time.monotonic() < deadline:
        time.sleep(1.0)
    problems = reconcile.archive_problems(settings, ends)
    verdict.archive_problems = len(problems)
    verdict.problems += [f"archive: {p}" for p in problems[:5]]


def check_dead_letters(client: Client, verdict: Verdict, source: str, sent: set[str], timeout_s: float = 30.0) -> None:
    """Every invalid event the collector acknowledged is in `rejected_events` with a reason."""
    verdict.dead_letters_sent = len(sent)
    deadline = time.monotonic() + timeout_s
    while True:
        rows = client.query(DEAD_LETTERS, parameters={"source": source}).result_rows
        found = {mid for payload, reason in rows if reason for mid in sent if mid in payload}
        if found >= sent or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    verdict.dead_letters_found = len(found)
    if found != sent:
        verdict.problems.append(f"{len(sent - found)} rejected events are not dead-lettered with a reason")


def wait_loader(settings: Settings, verdict: Verdict, timeout_s: float = 180.0) -> None:
    try:
        reconcile.wait_loader_caught_up(settings, timeout_s=timeout_s)
    except AssertionError as error:
        verdict.problems.append(str(error))


def window(truths: list[TruthReport]) -> tuple[int, int]:
    """(first, last) event time in ms over every sender's truth."""
    firsts = [_ms(t.first_event) for t in truths if t.first_event]
    lasts = [_ms(t.last_event) for t in truths if t.last_event]
    now = int(time.time() * 1000)
    return (min(firsts) if firsts else now), (max(lasts) if lasts else now)


def _ms(text: str | None) -> int:
    assert text is not None
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
