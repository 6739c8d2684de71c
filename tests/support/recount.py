"""An independent recount of emitted batches, from the JSON alone, to check the ground truth against.

It only uses the documented contract (pulse.contracts.segment) and the user-agent catalogue, never the
generator's internal facts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from pulse.contracts.segment import BatchBody, Message, decode_batch
from pulse.generator.population import DEVICES
from pulse.generator.truth import TruthReport

UA_DEVICE = {device.user_agent: device for device in DEVICES}
GAP_MS = 30 * 60 * 1000


def kind(message: Message) -> str:
    return message.event if message.type == "track" and message.event else message.type


def minute(message: Message) -> str:
    assert message.timestamp is not None
    return message.timestamp.strftime("%Y-%m-%dT%H:%M:00Z")


def millis(message: Message) -> int:
    assert message.timestamp is not None
    return round(message.timestamp.timestamp() * 1000)


@dataclass
class Recount:
    batches: int = 0
    messages: list[Message] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)
    per_minute: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    users_per_minute: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    per_country: Counter[str] = field(default_factory=Counter)
    per_device_type: Counter[str] = field(default_factory=Counter)
    per_os: Counter[str] = field(default_factory=Counter)
    campaigns: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    creatives: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    hashtags: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    session_ids: set[str] = field(default_factory=set)
    user_times: defaultdict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add_body(self, body: BatchBody) -> None:
        self.batches += 1
        for message in body.batch:
            self.add(message)

    def add(self, message: Message) -> None:
        self.messages.append(message)
        name, at = kind(message), minute(message)
        assert message.user_id is not None
        self.totals[name] += 1
        self.per_minute[at][name] += 1
        self.users_per_minute[at].add(message.user_id)
        self.user_times[message.user_id].append(millis(message))
        assert message.context.location is not None and message.context.location.country is not None
        self.per_country[message.context.location.country] += 1
        device = UA_DEVICE[message.context.user_agent or ""]
        self.per_device_type[device.device_type] += 1
        self.per_os[device.os] += 1
        assert message.context.session_id
        self.session_ids.add(message.context.session_id)
        props = message.properties
        if name in ("ad_impression", "ad_click", "conversion"):
            for key, table in ((props["campaign_id"], self.campaigns), (props["creative_id"], self.creatives)):
                row = table[key]
                row[{"ad_impression": "impressions", "ad_click": "clicks", "conversion": "conversions"}[name]] += 1
                row["spend_micros"] += props.get("spend_micros", 0)
                row["revenue_micros"] += props.get("revenue_micros", 0)
        for tag in props.get("hashtags", ()) if message.type == "track" else ():
            self.hashtags[at][tag] += 1

    def sessions(self) -> tuple[int, int, int]:
        """(count, bounces, total duration ms) by 30-minute inactivity over each user's events."""
        count = bounces = duration = 0
        for times in self.user_times.values():
            times.sort()
            first = previous = times[0]
            size = 1
            for at in times[1:]:
                if at - previous > GAP_MS:
                    count += 1
                    bounces += size == 1
                    duration += previous - first
                    first, size = at, 0
                previous = at
                size += 1
            count += 1
            bounces += size == 1
            duration += previous - first
        return count, bounces, duration


def recount_lines(data: bytes) -> Recount:
    recount = Recount()
    for line in data.splitlines():
        recount.add_body(decode_batch(line))
    return recount


def assert_truth_matches(data: bytes, report: TruthReport, *, unacknowledged: int = 0) -> None:
    """Every figure of the truth equals the recount of these batch lines."""
    recount = recount_lines(data)
    assert report.batches == recount.batches == len(data.splitlines())
    assert report.events == len(recount.messages) == sum(report.totals.values())
    assert report.totals == dict(recount.totals)
    assert report.per_minute == {m: dict(c) for m, c in recount.per_minute.items()}
    assert report.unique_users == len(recount.user_times)
    assert report.unique_users_per_minute == {m: len(u) for m, u in recount.users_per_minute.items()}
    assert report.per_country == dict(recount.per_country)
    assert report.per_device_type == dict(recount.per_device_type)
    assert report.per_os == dict(recount.per_os)
    for table, truth in ((recount.campaigns, report.per_campaign), (recount.creatives, report.per_creative)):
        assert set(truth) == set(table)
        for key, row in truth.items():
            for name in ("impressions", "clicks", "conversions", "spend_micros", "revenue_micros"):
                assert getattr(row, name) == table[key][name], (key, name)
    assert report.hashtags_per_minute == {m: dict(c) for m, c in recount.hashtags.items()}
    count, bounces, duration = recount.sessions()
    assert (report.sessions.count, report.sessions.bounces, report.sessions.total_duration_ms) == (
        count,
        bounces,
        duration,
    )
    assert report.sessions.session_ids == len(recount.session_ids)
    assert report.unacknowledged.events == unacknowledged
