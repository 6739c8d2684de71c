"""Generated traffic straight into the warehouse, enriched by the collector's own code.

The proof harness and ``pulse grafana preview`` need a warehouse holding known traffic in
seconds, not the minutes the HTTP -> Kafka path takes: each generated message is enriched with
``pulse.collector.enrich`` and inserted into ``events`` (the materialized views fill every
rollup), and the generator's ground truth says what the panels must show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from pulse.collector.enrich import enrich
from pulse.contracts.events import encode_event
from pulse.contracts.segment import decode_message
from pulse.generator.traffic import TrafficConfig, TrafficGenerator
from pulse.generator.truth import GroundTruth, TruthReport


def load_traffic(
    client: Client, generator: TrafficGenerator, *, events: int, rows_per_insert: int = 20_000
) -> TruthReport:
    """Insert ``events`` generated events; returns the exact truth of what was stored.

    ``rows_per_insert`` below the default cuts the load into the many small inserts a live loader
    makes, so a user's day spans several parts of every rollup (as before background merges)."""
    truth = GroundTruth(generator)
    rows: list[bytes] = []
    pending = []
    for batch in generator.batches(events=events):
        received = datetime.fromtimestamp(batch.last_ms / 1000 + 0.05, UTC)
        for text in batch.messages:
            message = decode_message(text.encode())
            rows.append(encode_event(enrich(message, received_at=received, source="demo", sent_at=None)))
        pending.append(batch)
        if len(rows) >= rows_per_insert:
            _insert(client, rows)
            for done in pending:
                truth.add(done)
            rows, pending = [], []
    if rows:
        _insert(client, rows)
        for done in pending:
            truth.add(done)
    return truth.report()


def register_campaigns(client: Client, truth: TruthReport) -> None:
    """The operator's direct insert of campaign budgets (what pacing and the overspend rule read)."""
    now = datetime.now(UTC)
    rows = [[c.campaign_id, f"Campaign {c.campaign_id}", c.daily_budget_micros, now] for c in truth.campaigns]
    if rows:
        client.insert("campaigns", rows, column_names=["campaign_id", "name", "daily_budget_micros", "updated_at"])
        client.command("SYSTEM RELOAD DICTIONARY campaigns_dict")


def _insert(client: Client, rows: list[bytes]) -> None:
    client.raw_insert(
        "events", None, b"\n".join(rows), fmt="JSONEachRow", settings={"input_format_skip_unknown_fields": 1}
    )


def live_traffic(
    client: Client, *, minutes: int = 10, rate: float = 40.0, seed: int = 61
) -> tuple[TruthReport, datetime]:
    """Traffic ending about now, so live panels (last 5 minutes) and "today" figures see it."""
    start = (datetime.now(UTC) - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    generator = TrafficGenerator(
        TrafficConfig(seed=seed, start=start, rate=rate, users=2_000, posts=1_500, campaigns=4)
    )
    truth = load_traffic(client, generator, events=int(minutes * 60 * rate))
    register_campaigns(client, truth)
    return truth, start
