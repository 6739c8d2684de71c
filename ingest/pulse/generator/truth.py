"""The exact ground truth of what was emitted (or, when sending, what the collector acknowledged).

The generator hands every batch's facts to :class:`GroundTruth`; only counters and sets are kept,
so batches may be added in any order (acknowledgements arrive out of order) and the result is
the same. :func:`load_truth` reads the file back as a typed :class:`TruthReport` for the tests
that compare the warehouse with it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pulse.generator.population import DEVICES, REGIONS
from pulse.generator.segment import iso_ms, minute_key

if TYPE_CHECKING:
    from pulse.generator.traffic import Batch, TrafficGenerator

#: One emitted message: (time_ms, kind, user index, session_id, creative index or -1,
#: money micros (spend of an impression, revenue of a conversion, else 0), hashtags or None, messageId).
Fact = tuple[int, str, int, str, int, int, "list[str] | None", str]

#: Sessions end after this much inactivity (the web-analytics convention the warehouse uses).
SESSION_GAP_MS = 30 * 60 * 1000
SCHEMA_VERSION = 1


class AdTotals(msgspec.Struct, kw_only=True):
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    spend_micros: int = 0
    revenue_micros: int = 0


class CreativeTotals(AdTotals, kw_only=True):
    campaign_id: str = ""


class CampaignSpec(msgspec.Struct, kw_only=True):
    """The configured truth of a campaign, to check measured CTR/CVR and spend against."""

    campaign_id: str
    creative_ids: list[str]
    target_segments: list[str]
    ctr: float
    cvr: float
    cpm_micros: int
    spend_per_impression_micros: int
    revenue_per_conversion_micros: int
    daily_budget_micros: int


class SessionTotals(msgspec.Struct, kw_only=True):
    """Sessions as a warehouse finds them: a user's events split at gaps over 30 minutes."""

    count: int = 0
    bounces: int = 0  # sessions of exactly one message
    total_duration_ms: int = 0  # sum of (last - first event) over sessions
    mean_duration_s: float = 0.0
    session_ids: int = 0  # distinct context.session_id values (the generator's own sessions)


class BurstTruth(msgspec.Struct, kw_only=True):
    tag: str
    start: str
    end: str
    peak_share: float
    events: int = 0  # emitted events carrying the tag


class Unacknowledged(msgspec.Struct, kw_only=True):
    """Batches the collector never acknowledged with a 2xx (gave up after retries, or 4xx)."""

    batches: int = 0
    events: int = 0
    totals: dict[str, int] = msgspec.field(default_factory=dict)
    message_ids: list[str] = msgspec.field(default_factory=list)
    statuses: dict[str, int] = msgspec.field(default_factory=dict)  # last status per batch -> count


class Delivery(msgspec.Struct, kw_only=True):
    """How the batches left: ``file`` (simulated time) or ``http`` (to a collector)."""

    mode: str
    target: str = ""
    requests: int = 0
    retries: int = 0
    elapsed_s: float = 0.0


class TruthReport(msgspec.Struct, kw_only=True):
    """The ground-truth file. Minutes are UTC, keyed ``YYYY-MM-DDTHH:MM:00Z``; kinds are track
    event names plus ``page``, ``screen`` and ``identify``; money is integer micros."""

    schema_version: int = SCHEMA_VERSION
    seed: int
    rate: float
    start: str
    first_event: str | None
    last_event: str | None
    batches: int
    events: int
    totals: dict[str, int]
    per_minute: dict[str, dict[str, int]]
    unique_users: int
    unique_users_per_minute: dict[str, int]
    per_country: dict[str, int]
    per_device_type: dict[str, int]
    per_os: dict[str, int]
    per_platform: dict[str, int]
    per_campaign: dict[str, AdTotals]
    per_creative: dict[str, CreativeTotals]
    campaigns: list[CampaignSpec]
    sessions: SessionTotals
    hashtag_totals: dict[str, int]
    hashtags_per_minute: dict[str, dict[str, int]]
    bursts: list[BurstTruth]
    unacknowledged: Unacknowledged = msgspec.field(default_factory=Unacknowledged)
    delivery: Delivery | None = None


class GroundTruth:
    """Accumulates facts of acknowledged batches; :meth:`report` turns them into the file."""

    def __init__(self, generator: TrafficGenerator) -> None:
        self._generator = generator
        self.batches = 0
        self.events = 0
        self._kinds: Counter[tuple[int, str]] = Counter()
        self._minute_users: defaultdict[int, set[int]] = defaultdict(set)
        self._user_events: Counter[int] = Counter()
        # sid -> (first, last, count, user); tuples of ints, which the cyclic GC stops tracking
        self._sessions: dict[str, tuple[int, int, int, int]] = {}
        self._ads: dict[int, list[int]] = {}  # creative -> [imp, clk, conv, spend, rev]
        self._tags: Counter[tuple[int, str]] = Counter()
        self._first = -1
        self._last = -1
        self.unacknowledged = Unacknowledged()

    def add(self, batch: Batch) -> None:
        """Count a batch that reached its destination (written, or acknowledged by the collector)."""
        self.add_facts(batch.facts)
        self.batches += 1

    def add_facts(self, facts: Iterable[Fact]) -> None:
        kinds = self._kinds
        minute_users = self._minute_users
        user_events = self._user_events
        sessions = self._sessions
        ads = self._ads
        tags = self._tags
        count = 0
        low = self._first if self._first >= 0 else 1 << 62
        high = self._last
        for time_ms, kind, user, sid, creative, money, hashtags, _ in facts:
            count += 1
            minute = time_ms // 60_000
            kinds[minute, kind] += 1
            minute_users[minute].add(user)
            user_events[user] += 1
            if time_ms < low:
                low = time_ms
            if time_ms > high:
                high = time_ms
            span = sessions.get(sid)
            if span is None:
                sessions[sid] = (time_ms, time_ms, 1, user)
            else:
                a, b, n, _ = span
                sessions[sid] = (a if a < time_ms else time_ms, b if b > time_ms else time_ms, n + 1, user)
            if creative >= 0:
                totals = ads.get(creative)
                if totals is None:
                    totals = ads[creative] = [0, 0, 0, 0, 0]
                if kind == "ad_impression":
                    totals[0] += 1
                    totals[3] += money
                elif kind == "ad_click":
                    totals[1] += 1
                else:
                    totals[2] += 1
                    totals[4] += money
            if hashtags:
                for tag in hashtags:
                    tags[minute, tag] += 1
        self.events += count
        if count:
            self._first, self._last = low, high

    def add_unacknowledged(self, batch: Batch, status: str) -> None:
        """Record a batch the collector did not accept; it stays out of every other figure."""
        lost = self.unacknowledged
        lost.batches += 1
        lost.statuses[status] = lost.statuses.get(status, 0) + 1
        for fact in batch.facts:
            lost.events += 1
            lost.totals[fact[1]] = lost.totals.get(fact[1], 0) + 1
            lost.message_ids.append(fact[7])

    def report(self) -> TruthReport:
        generator = self._generator
        population = generator.population
        per_minute: dict[str, dict[str, int]] = {}
        totals: Counter[str] = Counter()
        for (minute, kind), n in sorted(self._kinds.items()):
            per_minute.setdefault(minute_key(minute), {})[kind] = n
            totals[kind] += n
        per_country: Counter[str] = Counter()
        per_device: Counter[str] = Counter()
        per_os: Counter[str] = Counter()
        per_platform: Counter[str] = Counter()
        for user, n in self._user_events.items():
            device = DEVICES[population.device[user]]
            per_country[REGIONS[population.region[user]].country] += n
            per_device[device.device_type] += n
            per_os[device.os] += n
            per_platform[device.platform] += n

        per_creative: dict[str, CreativeTotals] = {}
        per_campaign: dict[str, AdTotals] = {}
        for index in sorted(self._ads):
            creative = population.creatives[index]
            imp, clk, conv, spend, rev = self._ads[index]
            per_creative[creative.creative_id] = CreativeTotals(
                campaign_id=creative.campaign_id,
                impressions=imp,
                clicks=clk,
                conversions=conv,
                spend_micros=spend,
                revenue_micros=rev,
            )
            campaign = per_campaign.setdefault(creative.campaign_id, AdTotals())
            campaign.impressions += imp
            campaign.clicks += clk
            campaign.conversions += conv
            campaign.spend_micros += spend
            campaign.revenue_micros += rev

        hashtags_per_minute: dict[str, dict[str, int]] = {}
        hashtag_totals: Counter[str] = Counter()
        for (minute, tag), n in sorted(self._tags.items()):
            hashtags_per_minute.setdefault(minute_key(minute), {})[tag] = n
            hashtag_totals[tag] += n

        bursts = [
            BurstTruth(
                tag=burst.tag,
                start=iso_ms(generator.start_ms + int(burst.start_s * 1000)),
                end=iso_ms(generator.start_ms + int((burst.start_s + burst.duration_s) * 1000)),
                peak_share=burst.peak_share,
                events=hashtag_totals.get(burst.tag, 0),
            )
            for burst in generator.config.bursts
        ]
        lost = self.unacknowledged
        return TruthReport(
            seed=generator.config.seed,
            rate=generator.config.rate,
            start=iso_ms(generator.start_ms),
            first_event=iso_ms(self._first) if self.events else None,
            last_event=iso_ms(self._last) if self.events else None,
            batches=self.batches,
            events=self.events,
            totals=dict(sorted(totals.items())),
            per_minute=per_minute,
            unique_users=len(self._user_events),
            unique_users_per_minute={minute_key(m): len(u) for m, u in sorted(self._minute_users.items())},
            per_country=dict(sorted(per_country.items())),
            per_device_type=dict(sorted(per_device.items())),
            per_os=dict(sorted(per_os.items())),
            per_platform=dict(sorted(per_platform.items())),
            per_campaign=per_campaign,
            per_creative=per_creative,
            campaigns=[
                CampaignSpec(
                    campaign_id=c.campaign_id,
                    creative_ids=[cr.creative_id for cr in c.creatives],
                    target_segments=list(c.target_segments),
                    ctr=c.ctr,
                    cvr=c.cvr,
                    cpm_micros=c.cpm_micros,
                    spend_per_impression_micros=c.spend_per_impression_micros,
                    revenue_per_conversion_micros=c.revenue_micros,
                    daily_budget_micros=c.daily_budget_micros,
                )
                for c in population.campaigns
            ],
            sessions=self._session_totals(),
            hashtag_totals=dict(sorted(hashtag_totals.items())),
            hashtags_per_minute=hashtags_per_minute,
            bursts=bursts,
            unacknowledged=Unacknowledged(
                batches=lost.batches,
                events=lost.events,
                totals=dict(sorted(lost.totals.items())),
                message_ids=sorted(lost.message_ids),
                statuses=dict(sorted(lost.statuses.items())),
            ),
        )

    def _session_totals(self) -> SessionTotals:
        """Merge each user's session spans that are 30 minutes or less apart, as sessionizing
        the user's events by inactivity would (gaps inside one generated session are shorter)."""
        by_user: defaultdict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for first, last, count, user in self._sessions.values():
            by_user[user].append((first, last, count))
        sessions = bounces = duration = 0
        for spans in by_user.values():
            spans.sort()
            first, last, count = spans[0]
            for next_first, next_last, next_count in spans[1:]:
                if next_first - last <= SESSION_GAP_MS:
                    last = max(last, next_last)
                    count += next_count
                    continue
                sessions += 1
                bounces += count == 1
                duration += last - first
                first, last, count = next_first, next_last, next_count
            sessions += 1
            bounces += count == 1
            duration += last - first
        if not by_user:
            return SessionTotals()
        return SessionTotals(
            count=sessions,
            bounces=bounces,
            total_duration_ms=duration,
            mean_duration_s=round(duration / sessions / 1000, 3),
            session_ids=len(self._sessions),
        )


_truth_encoder = msgspec.json.Encoder()
_truth_decoder = msgspec.json.Decoder(TruthReport)


def encode_truth(report: TruthReport) -> bytes:
    return msgspec.json.format(_truth_encoder.encode(report), indent=1)


def write_truth(report: TruthReport, path: Path) -> None:
    path.write_bytes(encode_truth(report) + b"\n")


def load_truth(path: Path | str) -> TruthReport:
    """Read a ground-truth file written by ``pulse generate --truth``."""
    return _truth_decoder.decode(Path(path).read_bytes())
