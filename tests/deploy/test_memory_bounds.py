"""The loader's and the hot layer's messageId memory fits their pods' memory limits.

Both remember up to ``dedup_max_ids`` messageIds per owned partition (``pulse.worker.client_retries``) to
drop a client's retry. The one-hour soak showed that memory filling (loader +196 MB/h at 300 events/s,
docs/reliability.md); at 100K events/s it fills in minutes, and with the code's default (500,000 per
partition) a pod owning the chart's 33 partitions would need ~2.4 GB against a 1 GiB limit: killed for
memory, again and again, at peak. So the chart sets the cap, and this test checks it against the limit,
with the cost of one remembered id measured here on the real structure.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest

from pulse.contracts.events import HOT_FAMILIES, LOADER_FAMILIES
from pulse.settings import Settings

from .test_policy import plain_env
from .tools import Manifest, by_kind, named

#: What each process holds besides the messageIds: the soak's loader and hot layer started at ~175 MB
#: resident (docs/reliability.md), plus a batch of up to 50,000 rows being encoded.
RESERVE_BYTES = 400 * 2**20
#: The consumers and the families of topics they read.
CONSUMERS: dict[str, tuple[str, ...]] = {"pulse-loader": LOADER_FAMILIES, "pulse-hot-layer": HOT_FAMILIES}
MEASURED_IDS = 400_000

FILL = textwrap.dedent(
    f"""
    import os, uuid
    from pulse.worker.client_retries import RecentIds
    page = os.sysconf("SC_PAGE_SIZE")
    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page
    partitions = [RecentIds(10**9) for _ in range(8)]
    before = resident()
    for i in range({MEASURED_IDS}):
        partitions[i % 8].seen(str(uuid.uuid4()))  # each id its own string, as decoded from a message
    print((resident() - before) / {MEASURED_IDS})
    """
)


@pytest.fixture(scope="module")
def bytes_per_id() -> float:
    """Resident bytes one remembered messageId costs (string, set entry, deque slot), in a fresh process."""
    done = subprocess.run([sys.executable, "-c", FILL], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def memory_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    return int(quantity)


def memory_limit(deployment: Manifest) -> int:
    return memory_bytes(deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])


def most_partitions_owned(docs: list[Manifest], deployment: Manifest, families: tuple[str, ...]) -> int:
    """Partitions one pod may own: all of its topics' partitions over the pods the PDB keeps alive."""
    topics = {t["spec"]["topicName"].rsplit(".", 1)[-1]: t["spec"]["partitions"] for t in by_kind(docs, "KafkaTopic")}
    partitions = sum(int(topics[family]) for family in families)
    name = deployment["metadata"]["name"]
    unavailable = int(named(docs, "PodDisruptionBudget", name)["spec"]["maxUnavailable"])
    alive = max(1, int(deployment["spec"]["replicas"]) - unavailable)
    return math.ceil(partitions / alive)


def test_one_remembered_id_costs_what_the_chart_assumes(bytes_per_id: float) -> None:
    # values.yaml sizes the cap at ~150 B an id; a structure grown past that would break the sizing.
    assert 60 < bytes_per_id < 200, bytes_per_id


@pytest.mark.parametrize("consumer", sorted(CONSUMERS))
def test_the_messageid_memory_fits_the_pod_limit(rendered: list[Manifest], bytes_per_id: float, consumer: str) -> None:
    deployment = named(rendered, "Deployment", consumer)
    set_cap = plain_env(rendered, consumer).get("PULSE_LOADER__DEDUP_MAX_IDS")
    assert set_cap, f"{consumer}: the chart must set PULSE_LOADER__DEDUP_MAX_IDS (the code default does not fit)"
    cap = int(set_cap)
    limit = memory_limit(deployment)
    owned = most_partitions_owned(rendered, deployment, CONSUMERS[consumer])
    needed = owned * cap * bytes_per_id + RESERVE_BYTES
    assert needed <= limit, (
        f"{consumer}: {owned} partitions x {cap:,} ids x {bytes_per_id:.0f} B + {RESERVE_BYTES >> 20} MiB "
        f"= {needed / 2**20:,.0f} MiB > limit {limit / 2**20:,.0f} MiB"
    )


def test_the_code_default_would_not_fit(default_docs: list[Manifest], bytes_per_id: float) -> None:
    """Why the chart sets the cap at all (and a check that the bound above can fail)."""
    deployment = named(default_docs, "Deployment", "pulse-loader")
    limit = memory_limit(deployment)
    owned = most_partitions_owned(default_docs, deployment, CONSUMERS["pulse-loader"])
    assert owned * Settings().loader.dedup_max_ids * bytes_per_id + RESERVE_BYTES > limit
