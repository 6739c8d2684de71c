"""Tracking plans and money: what a plan allows, flags or blocks, how a bad plan is named, and that
Segment's decimal money becomes exact micros (hypothesis over the decimals a client can write)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pulse.collector.enrich import InvalidEvent, enrich
from pulse.contracts.money import to_micros
from pulse.contracts.segment import decode_message
from pulse.contracts.tracking import CompiledPlan, PlanError, TrackingPlans, load_plan, parse_plan, plan_files
from tests.collector.test_enrich import RECEIVED

REPO = Path(__file__).resolve().parents[2]
PLAN = {
    "source": "stories",
    "events": {
        "story_view": {
            "properties": {
                "story_id": {"type": "string", "required": True},
                "duration_ms": {"type": "integer"},
                "price": {"type": "money"},
            }
        },
        "like": {"properties": {"surface": {"type": "string", "required": True}}},
    },
}


def plan(mode: str) -> CompiledPlan:
    return CompiledPlan(parse_plan({**PLAN, "mode": mode}, "test"))


def message(event: str, properties: dict[str, Any], call: str = "track") -> bytes:
    return orjson.dumps(
        {
            "type": call,
            "messageId": "m-1",
            "event": event,
            "userId": "u-1",
            "timestamp": "2026-11-22T11:59:59Z",
            "properties": properties,
        }
    )


def stored(raw: bytes, compiled: CompiledPlan | None = None) -> Any:
    extra = {} if compiled is None else {"plan": compiled}
    return enrich(decode_message(raw), received_at=RECEIVED, source="stories", sent_at=None, **extra)


@pytest.mark.parametrize(
    ("event", "properties", "flags"),
    [
        ("story_view", {"story_id": "s1", "duration_ms": 1200}, []),
        ("story_view", {"duration_ms": 1200}, ["missing:story_id"]),
        (
            "story_view",
            {"story_id": "s1", "duration_ms": "long", "price": "x"},
            ["invalid:duration_ms", "invalid:price"],
        ),
        ("Order Completed", {"revenue": 5}, ["unplanned"]),
        ("like", {"post_id": "p"}, ["missing:surface"]),  # a vocabulary event the plan lists is checked by both
        ("view", {"post_id": "p"}, []),  # a vocabulary event the plan does not list: the vocabulary's checks only
    ],
)
def test_an_allow_plan_stores_everything_and_flags_what_breaks_it(
    event: str, properties: dict[str, Any], flags: list[str]
) -> None:
    event_row = stored(message(event, properties), plan("allow"))
    assert event_row.flags == flags
    assert orjson.loads(event_row.properties).items() >= {k: v for k, v in properties.items() if k != "post_id"}.items()


@pytest.mark.parametrize(
    ("event", "properties", "code", "reason"),
    [
        ("Order Completed", {"revenue": 5}, "unplanned_event", "'Order Completed' is not in the tracking plan"),
        ("view", {"post_id": "p"}, "unplanned_event", "'view' is not in the tracking plan of source 'stories'"),
        ("story_view", {"duration_ms": 1}, "plan_violation", "required property 'story_id' is missing"),
        ("story_view", {"story_id": 7}, "plan_violation", "property 'story_id' must be string, got integer"),
    ],
)
def test_a_block_plan_refuses_unplanned_and_invalid_events_with_the_reason(
    event: str, properties: dict[str, Any], code: str, reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason) as caught:
        stored(message(event, properties), plan("block"))
    assert caught.value.code == code


def test_a_block_plan_still_lets_identify_and_page_calls_through() -> None:
    assert stored(message("", {}, call="page"), plan("block")).event == "page"
    assert stored(message("", {}, call="identify"), plan("block")).event == "identify"


def test_without_a_plan_a_custom_event_is_stored_flagged_and_keeps_mistyped_vocabulary_names() -> None:
    event_row = stored(message("story_view", {"story_id": "s1", "post_id": 42, "country": "NO"}))
    assert event_row.flags == ["unplanned", "invalid:post_id"]
    assert event_row.post_id == "", "a mistyped id is not promoted ..."
    assert orjson.loads(event_row.properties) == {"story_id": "s1", "post_id": 42, "country": "NO"}, "... nor lost"


def test_identifiers_stay_required_and_a_profile_id_names_the_visited_profile() -> None:
    with pytest.raises(InvalidEvent, match=r"like lacks properties \['post_id'\]") as caught:
        stored(message("like", {"category": "travel"}))
    assert caught.value.code == "missing_property"
    visit = stored(message("profile_visit", {"profile_id": "u-9"}))
    assert orjson.loads(visit.properties)["target_user_id"] == "u-9"


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"source": "s", "mode": "strict"}, "$.mode"),
        ({"source": "s", "events": {"x": {"properties": {"n": {"type": "int"}}}}}, "$.events.x.properties.n.type"),
        ({"source": "s", "events": {"x": {"propertes": {}}}}, "unknown field `propertes` - at `$.events.x`"),
        ({"source": "s", "events": {"x": {"properties": {"n": {"requird": True}}}}}, "$.events.x.properties.n"),
        ({"source": "s", "events": {"like": {"properties": {"post_id": {"type": "integer"}}}}}, "reads 'post_id'"),
        ({"mode": "block"}, "missing required field `source`"),
    ],
)
def test_a_bad_plan_is_refused_naming_the_field(tmp_path: Path, data: dict[str, Any], names: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(orjson.dumps(data).decode())  # JSON is YAML
    with pytest.raises(PlanError, match=None) as caught:
        load_plan(path)
    assert names in str(caught.value) and str(path) in str(caught.value)
    checked = subprocess.run(
        [sys.executable, "-m", "pulse", "tracking", "check", str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 2 and names in checked.stderr.replace("\n", " ")


def test_a_plan_file_must_be_named_after_its_source(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text("source: app\n")
    with pytest.raises(PlanError, match=r"\$.source is 'app' but the file plans source 'web'"):
        TrackingPlans.load(tmp_path)


def test_the_repository_plans_are_valid() -> None:
    plans = plan_files(REPO / "provisioning" / "tracking-plans")
    assert plans, "the example plan is part of the documentation"
    loaded = TrackingPlans.load(REPO / "provisioning" / "tracking-plans")
    assert loaded.sources == sorted(path.stem for path in plans)


# Every decimal a client may write with up to 15 significant digits and micro precision.
amounts = st.decimals(min_value=Decimal("-999999999.999999"), max_value=Decimal("999999999.999999"), places=6).filter(
    lambda d: len(d.normalize().as_tuple().digits) <= 15
)


@given(amount=amounts, as_text=st.booleans())
def test_decimal_money_is_stored_as_exact_micros(amount: Decimal, as_text: bool) -> None:
    literal = f'"{amount}"' if as_text else format(amount, "f")  # the client's JSON text, byte for byte
    raw = message("Order Completed", {}).replace(
        b'"properties":{}', b'"properties":{"revenue":' + literal.encode() + b"}"
    )
    event_row = stored(raw)
    assert event_row.revenue_micros == int(amount * 1_000_000)
    assert not any(flag.startswith("rounded:") for flag in event_row.flags)


@given(micros=st.integers(-(2**62), 2**62))
def test_micros_sent_as_integers_win_over_decimals(micros: int) -> None:
    raw = message("ad_impression", {"campaign_id": "c", "creative_id": "k", "spend_micros": micros, "cost": 1.5})
    assert stored(raw).spend_micros == micros


def test_a_float_cost_is_exact_and_finer_than_micros_is_rounded_half_even_and_flagged() -> None:
    impression = {"campaign_id": "c", "creative_id": "k"}
    assert stored(message("ad_impression", {**impression, "cost": 0.0125})).spend_micros == 12_500
    assert stored(message("ad_impression", {**impression, "cost": 19.99})).spend_micros == 19_990_000
    fine = stored(message("ad_impression", {**impression, "cost": 0.0000025}))
    assert (fine.spend_micros, fine.flags) == (2, ["rounded:cost"])
    assert to_micros("0.0000035") == (4, True)
    with pytest.raises(InvalidEvent, match="cost"):
        stored(message("ad_impression", {**impression, "cost": "free"}))
