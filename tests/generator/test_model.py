"""The traffic looks like the model says: Zipf popularity, campaign CTR/CVR, bursts, budgets,
evening peaks, and every message meets the documented Segment contract."""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from pulse.contracts.segment import TRACK_EVENTS, contract_errors, decode_batch, decode_message
from pulse.generator.population import COUNTRIES, DEVICES
from pulse.generator.traffic import BurstSpec, TrafficConfig, TrafficGenerator
from pulse.generator.truth import GroundTruth, TruthReport
from tests.support.recount import Recount, kind

START = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
TEST_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def generate(
    config: TrafficConfig, *, recount_too: bool = True, **limits: float
) -> tuple[Recount, TruthReport, list[bytes]]:
    generator = TrafficGenerator(config)
    truth = GroundTruth(generator)
    recount = Recount()
    bodies = []
    for batch in generator.batches(**limits):  # type: ignore[arg-type]
        truth.add(batch)
        if recount_too:
            body = batch.encode()
            bodies.append(body)
            recount.add_body(decode_batch(body))
    return recount, truth.report(), bodies


@pytest.fixture(scope="module")
def big() -> tuple[Recount, TruthReport, list[bytes]]:
    """Ten simulated minutes at 400/s with one burst in the middle."""
    config = TrafficConfig(
        seed=42,
        start=START,
        rate=400.0,
        users=30_000,
        posts=5_000,
        campaigns=4,
        bursts=(BurstSpec("moonwalk", start_s=240, duration_s=180, peak_share=0.4),),
    )
    return generate(config, seconds=600)


def test_every_message_meets_the_contract(big: tuple[Recount, TruthReport, list[bytes]]) -> None:
    recount, report, bodies = big
    ids = set()
    for body in bodies[:400]:
        raw = decode_batch(body)
        assert TIMESTAMP.match(body.rsplit(b'"sentAt":"', 1)[1][:-2].decode())
        for message in raw.batch:
            assert contract_errors(message) == [], message
    for message in recount.messages:
        ids.add(message.message_id)
        assert UUID.match(message.message_id)
        assert message.type in ("track", "identify", "page", "screen")
        assert message.user_id and message.anonymous_id
        ctx = message.context
        assert ctx.ip is not None and any(ipaddress.ip_address(ctx.ip) in net for net in TEST_NETS)
        assert ctx.location is not None and ctx.location.city and ctx.location.region
        assert ctx.locale and ctx.user_agent and ctx.session_id
        device = next(d for d in DEVICES if d.user_agent == ctx.user_agent)
        assert (ctx.page is not None) == (device.platform == "web")
        if message.type == "track":
            assert message.event in TRACK_EVENTS
        if message.type == "identify":
            assert set(message.traits) == {"country", "region", "city", "age_band", "segment", "language"}
            assert message.traits["country"] == ctx.location.country
    assert len(ids) == len(recount.messages) == report.events
    # identify comes from a share of users, once each
    identified = [m.user_id for m in recount.messages if m.type == "identify"]
    assert len(identified) == len(set(identified)) > 0
    # UTM campaigns ride on some web sessions only
    assert any(m.context.campaign is not None for m in recount.messages)


def test_message_timestamps_are_exact_milliseconds(big: tuple[Recount, TruthReport, list[bytes]]) -> None:
    raw = bodies = big[2]
    first = decode_message(raw[0].split(b'{"batch":[', 1)[1].split(b',{"type"', 1)[0])
    assert first.timestamp == START
    assert bodies[-1].count(b'"timestamp":"2026-11-22T18:09:59.') > 0


def test_zipf_popularity_top_posts_dominate(big: tuple[Recount, TruthReport, list[bytes]]) -> None:
    views = Counter(m.properties["post_id"] for m in big[0].messages if kind(m) == "view")
    ranked = [n for _, n in views.most_common()]
    top = sum(ranked[: max(1, len(ranked) // 100)])
    assert top / sum(ranked) > 0.25  # the top 1% of viewed posts take over a quarter of the views
    assert ranked[0] > 20 * ranked[len(ranked) // 2]


def test_ctr_and_cvr_match_configuration(big: tuple[Recount, TruthReport, list[bytes]]) -> None:
    report = big[1]
    specs = {spec.campaign_id: spec for spec in report.campaigns}
    checked = 0
    for campaign_id, totals in report.per_campaign.items():
        spec = specs[campaign_id]
        assert totals.spend_micros == totals.impressions * spec.spend_per_impression_micros
        assert totals.revenue_micros == totals.conversions * spec.revenue_per_conversion_micros
        if totals.impressions < 500:
            continue
        checked += 1
        # binomial tolerance: 4.5 standard deviations, plus clicks still queued at the end of the run
        sd = math.sqrt(totals.impressions * spec.ctr * (1 - spec.ctr))
        assert abs(totals.clicks - totals.impressions * spec.ctr) <= 4.5 * sd + 5, campaign_id
        if totals.clicks >= 100:
            sd = math.sqrt(totals.clicks * spec.cvr * (1 - spec.cvr))
            assert abs(totals.conversions - totals.clicks * spec.cvr) <= 4.5 * sd + 5, campaign_id
    assert checked >= 2
    all_imp = sum(t.impressions for t in report.per_campaign.values())
    expected = sum(report.per_campaign[c].impressions * specs[c].ctr for c in report.per_campaign)
    assert abs(sum(t.clicks for t in report.per_campaign.values()) - expected) < 4.5 * math.sqrt(expected) + 5
    assert all_imp > 0


def test_burst_shows_in_per_minute_hashtags(big: tuple[Recount, TruthReport, list[bytes]]) -> None:
    report = big[1]
    (burst,) = report.bursts
    assert (burst.tag, burst.start, burst.end) == ("moonwalk", "2026-11-22T18:04:00.000Z", "2026-11-22T18:07:00.000Z")
    per_minute = {m: tags.get("moonwalk", 0) for m, tags in report.hashtags_per_minute.items()}
    before = [per_minute[f"2026-11-22T18:0{m}:00Z"] for m in range(4)]
    during = [per_minute[f"2026-11-22T18:0{m}:00Z"] for m in (4, 5, 6)]
    after = [per_minute[f"2026-11-22T18:0{m}:00Z"] for m in (8, 9)]
    assert before == [0, 0, 0, 0]
    assert min(during) > 500  # a sharp rise: from nothing to thousands of tagged events a minute
    assert during[1] > 10 * max(after[1], 1) or after[1] < during[1] / 5
    top_during = max(report.hashtags_per_minute["2026-11-22T18:05:00Z"].items(), key=lambda kv: kv[1])
    assert top_during[0] == "moonwalk"
    assert burst.events == report.hashtag_totals["moonwalk"]


def test_daily_budget_stops_impressions() -> None:
    config = TrafficConfig(seed=9, start=START, rate=2000.0, users=5_000, posts=500, campaigns=4, budget_scale=0.0002)
    _, report, _ = generate(config, recount_too=False, seconds=120)
    capped = 0
    for spec in report.campaigns:
        spent = report.per_campaign.get(spec.campaign_id)
        if spent is None:
            continue
        assert spent.spend_micros <= spec.daily_budget_micros
        capped += spent.spend_micros > spec.daily_budget_micros - spec.spend_per_impression_micros
    assert capped >= 1


def test_evening_peak_in_local_time() -> None:
    """Over a simulated day, each big country's sessions peak in its local evening."""
    config = TrafficConfig(seed=4, start=START, rate=1.5, users=20_000, posts=500, campaigns=2, mean_gap_s=5.0)
    recount, _, _ = generate(config, seconds=86_400)
    offsets = {"US": -6, "IN": 5.5, "JP": 9, "BR": -3}
    for country, offset in offsets.items():
        by_hour: Counter[int] = Counter()
        for message in recount.messages:
            if message.type in ("page", "screen") and message.context.location.country == country:  # type: ignore[union-attr]
                assert message.timestamp is not None
                by_hour[int((message.timestamp + timedelta(hours=offset)).hour)] += 1
        evening = sum(by_hour[h] for h in (18, 19, 20, 21, 22))
        night = sum(by_hour[h] for h in (2, 3, 4, 5, 6))
        assert evening > 3 * night, (country, by_hour)
    assert {c.code for c in COUNTRIES} >= set(offsets)
