"""Enrichment rules: identity, vocabulary, device, referral and Segment's clock-skew rule."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.collector.enrich import InvalidEvent, device_of, enrich, referrer_source
from pulse.contracts.events import format_time, parse_time
from pulse.contracts.segment import decode_message

RECEIVED = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def like(**overrides: object) -> bytes:
    import orjson

    message: dict[str, object] = {
        "type": "track",
        "messageId": "m-1",
        "event": "like",
        "userId": "u-1",
        "timestamp": "2026-11-22T11:59:59.500Z",
        "properties": {"post_id": "p-1", "author_id": "a-1", "category": "sports", "hashtags": ["#Goal"]},
        "context": {"userAgent": IPHONE, "location": {"country": "KZ", "region": "Almaty", "city": "Almaty"}},
    }
    message.update(overrides)
    return orjson.dumps(message)


def test_a_valid_like_is_enriched_from_its_context() -> None:
    event = enrich(decode_message(like()), received_at=RECEIVED, source="wk_x", sent_at=None)
    assert (event.event, event.user_id, event.post_id, event.category) == ("like", "u-1", "p-1", "sports")
    assert (event.country, event.region, event.city) == ("KZ", "Almaty", "Almaty")
    assert (event.device_type, event.os) == ("mobile", "iOS")
    assert event.hashtags == ["goal"]
    assert event.event_time == "2026-11-22 11:59:59.500"
    assert event.flags == []


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"userId": None}, "neither userId nor anonymousId"),
        ({"properties": {"author_id": "a"}}, r"lacks properties \['post_id'\]"),
        ({"event": "ad_click", "properties": {"campaign_id": "c"}}, r"lacks properties \['creative_id'\]"),
        ({"event": "ad_impression", "properties": {"campaign_id": "c", "creative_id": "k", "cost": "x"}}, "cost"),
    ],
)
def test_invalid_events_name_the_problem(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        enrich(decode_message(like(**overrides)), received_at=RECEIVED, source="s", sent_at=None)


def test_missing_context_is_unknown_not_an_error() -> None:
    event = enrich(decode_message(like(context={})), received_at=RECEIVED, source="s", sent_at=None)
    assert (event.country, event.device_type, event.segment) == ("unknown", "unknown", "unknown")


@given(skew_s=st.integers(min_value=-86_400 * 30, max_value=86_400 * 30), delay_ms=st.integers(0, 4_000))
def test_clock_skew_rule_recovers_the_true_time(skew_s: int, delay_ms: int) -> None:
    """A device clock off by `skew` stamps both timestamp and sentAt with it; Pulse removes it."""
    true_time = RECEIVED - timedelta(milliseconds=delay_ms) - timedelta(seconds=90)
    device_ts = true_time + timedelta(seconds=skew_s)
    device_sent = RECEIVED - timedelta(milliseconds=delay_ms) + timedelta(seconds=skew_s)
    message = decode_message(
        like(timestamp=device_ts.isoformat(), sentAt=device_sent.isoformat().replace("+00:00", "Z"))
    )
    event = enrich(message, received_at=RECEIVED, source="s", sent_at=None)
    stored = parse_time(event.event_time)
    if abs(skew_s - delay_ms / 1000) > 5:
        assert abs(stored - true_time) <= timedelta(milliseconds=delay_ms + 1)
        assert "clock_skew_corrected" in event.flags
    else:
        assert abs(stored - device_ts) <= timedelta(milliseconds=1)


def test_a_far_future_timestamp_without_sent_at_is_clamped_and_flagged() -> None:
    future = (RECEIVED + timedelta(days=3)).isoformat()
    event = enrich(decode_message(like(timestamp=future)), received_at=RECEIVED, source="s", sent_at=None)
    assert parse_time(event.event_time) == RECEIVED
    assert event.flags == ["future_timestamp"]


def test_devices_are_classified_from_user_agents() -> None:
    assert device_of(IPHONE)[0] == "mobile"
    assert device_of(DESKTOP)[:2] == ("desktop", "Windows")
    assert device_of("") == ("unknown", "unknown", "unknown")


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({}, "direct"),
        ({"campaign": {"source": "newsletter", "medium": "email"}}, "campaign"),
        ({"page": {"referrer": "https://www.google.com/search?q=x", "url": "https://pulse.example/p"}}, "search"),
        ({"page": {"referrer": "https://t.co/abc", "url": "https://pulse.example/p"}}, "social"),
        ({"page": {"referrer": "https://pulse.example/feed", "url": "https://pulse.example/p"}}, "internal"),
        ({"page": {"referrer": "https://blog.example.org/", "url": "https://pulse.example/p"}}, "referral"),
    ],
)
def test_referral_sources(context: dict[str, object], expected: str) -> None:
    assert referrer_source(decode_message(like(context=context))) == expected


def test_a_mobile_sdk_platform_is_not_taken_for_a_form_factor() -> None:
    app = {"device": {"type": "ios", "manufacturer": "Apple"}, "userAgent": IPHONE}
    assert (
        enrich(decode_message(like(context=app)), received_at=RECEIVED, source="s", sent_at=None).device_type
        == "mobile"
    )
    bare = {"device": {"type": "android"}}
    assert (
        enrich(decode_message(like(context=bare)), received_at=RECEIVED, source="s", sent_at=None).device_type
        == "mobile"
    )


def test_a_year_9999_timestamp_with_a_skewed_clock_does_not_overflow() -> None:
    message = decode_message(like(timestamp="9999-12-31T23:59:59Z", sentAt="2020-01-01T00:00:00Z"))
    event = enrich(message, received_at=RECEIVED, source="wk_x", sent_at=None)
    assert event.event_time == "2026-11-22 12:00:00.000"
    assert "clock_skew_corrected" in event.flags


@given(
    st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))])
    )
)
def test_event_times_are_clickhouse_text_in_utc_whatever_the_offset(moment: datetime) -> None:
    """The fast path (already UTC: cut the offset off) and the converting one give ClickHouse's text."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # an instant near year 1 or 9999 with an offset has no UTC form
        return
    expected = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} {utc:%H:%M:%S}.{utc.microsecond // 1000:03d}"
    assert format_time(moment) == expected
    assert parse_time(expected) == utc.replace(microsecond=utc.microsecond // 1000 * 1000)
