"""The traffic model: sessions of social interactions and ad funnels, cut into Segment batches.

Time is simulated in integer epoch milliseconds. Event *slots* arrive at exactly ``rate`` per
second; each slot goes to the session whose next action is due, or, when none is due, opens a
new session. Sessions therefore overlap realistically (thousands at once, seconds between a
user's actions) while the total rate is exactly what the benchmark asked for. Who opens a
session follows each region's local time of day (evening peak), and injected bursts make one
new hashtag take over a share of content for a few minutes.
"""

from __future__ import annotations

import bisect
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from math import log
from typing import Any

import numpy as np

from pulse.generator.population import (
    DEVICES,
    DIURNAL,
    REFERRERS,
    REGIONS,
    SEARCH_WORDS,
    SEGMENTS,
    UTM_CAMPAIGNS,
    Population,
    Post,
)
from pulse.generator.segment import (
    Clock,
    MessageIds,
    encode_batch,
    identify_traits,
    iso_ms,
    json_text,
    session_tail,
    track,
    user_context,
)
from pulse.generator.truth import Fact

Json = dict[str, Any]
MAX_GAP_MS = 20 * 60 * 1000  # inside a session; below the 30-minute inactivity cut


@dataclass(frozen=True)
class BurstSpec:
    """A new hashtag trending from ``start_s`` (seconds after the run start) for ``duration_s``.

    At its peak ``peak_share`` of feed views go to posts carrying the tag; it rises over the
    first 15% of the window, holds, and fades over the last 40%.
    """

    tag: str
    start_s: float
    duration_s: float
    peak_share: float = 0.35

    def intensity(self, offset_ms: int) -> float:
        x = (offset_ms / 1000 - self.start_s) / self.duration_s
        if x < 0 or x >= 1:
            return 0.0
        if x < 0.15:
            return self.peak_share * x / 0.15
        if x < 0.6:
            return self.peak_share
        return self.peak_share * (1 - x) / 0.4

    @classmethod
    def parse(cls, text: str) -> BurstSpec:
        """``TAG:START_S:DURATION_S[:PEAK_SHARE]`` as given on the command line."""
        parts = text.split(":")
        if len(parts) not in (3, 4):
            raise ValueError(f"burst {text!r} is not TAG:START_S:DURATION_S[:PEAK_SHARE]")
        share = float(parts[3]) if len(parts) == 4 else 0.35
        return cls(parts[0].lstrip("#").lower(), float(parts[1]), float(parts[2]), share)


def default_bursts(seed: int, seconds: float) -> tuple[BurstSpec, ...]:
    """One burst a third into the run, lasting 40% of it (at most 5 minutes)."""
    words = ("nightmarket", "solareclipse", "dancechallenge", "newalbum", "finalsweek", "heatwave")
    tag = f"{words[seed % len(words)]}{seed % 97}"
    return (BurstSpec(tag, start_s=seconds / 3, duration_s=min(300.0, max(1.0, seconds * 0.4))),)


@dataclass(frozen=True)
class TrafficConfig:
    """Everything that shapes the output: the same config gives byte-identical batches."""

    seed: int = 0
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    rate: float = 1000.0  # events per second
    users: int = 100_000
    posts: int = 50_000
    campaigns: int = 10
    batch_size: int = 100
    flush_interval_s: float = 1.0  # a batch never spans more simulated time than this
    bursts: tuple[BurstSpec, ...] = ()
    identify_share: float = 0.3  # of users, who send `identify` on their first session
    bounce_rate: float = 0.25  # sessions that end after their first page/screen
    mean_session_events: float = 12.0
    mean_gap_s: float = 12.0  # between a user's actions
    max_concurrent_sessions: int = 20_000  # bounds memory; shortens gaps at very high rates
    zipf_exponent: float = 1.1
    budget_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.batch_size <= 0 or self.users <= 0 or self.posts <= 0:
            raise ValueError("rate, batch_size, users and posts must be positive")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")


@dataclass(slots=True)
class Batch:
    """A batch of messages as sent, plus the facts the ground truth needs about them."""

    messages: list[str]  # each one message's JSON text
    facts: list[Fact]
    first_ms: int
    last_ms: int

    def __len__(self) -> int:
        return len(self.messages)

    def encode(self, sent_at: str | None = None) -> bytes:
        """The ``/v1/batch`` body; ``sentAt`` defaults to the last event's time (file mode)."""
        return encode_batch(self.messages, sent_at or iso_ms(self.last_ms))

    @property
    def message_ids(self) -> list[str]:
        return [fact[7] for fact in self.facts]


# Relative odds of each action in a session, and how each segment tilts them.
_ACTIONS = (
    "view",
    "like",
    "comment",
    "share",
    "save",
    "profile_visit",
    "follow",
    "search",
    "post_created",
    "ad_impression",
)
_BASE_ODDS = (50.0, 12.0, 3.0, 2.0, 3.0, 6.0, 1.5, 5.0, 1.2, 9.0)
_SEGMENT_TILT: dict[str, dict[str, float]] = {
    "casual": {},
    "power_user": {"like": 1.5, "comment": 1.8, "share": 1.5, "follow": 1.5},
    "creator": {"post_created": 6.0, "comment": 2.0, "profile_visit": 1.5},
    "lurker": {"view": 1.3, "like": 0.4, "comment": 0.2, "share": 0.3, "post_created": 0.1},
    "business": {"post_created": 3.0, "ad_impression": 0.5, "search": 1.5},
}
_POST_ACTIONS = frozenset(("like", "comment", "share", "save"))
# A view's properties: the post's JSON with its closing brace replaced by the surface it was seen on.
_SURFACES = tuple(
    f',"surface":"{surface}"}}'
    for surface in ("feed", "feed", "feed", "feed", "explore", "explore", "profile", "search")
)


@dataclass(slots=True)
class _Session:
    """One visit: the user, the encoded tail of its messages, and what it is in the middle of."""

    sid: str
    user: int
    uid: str
    tail: str
    app: bool
    remaining: int
    odds: list[float]
    started: bool = False
    pending: list[tuple[str, int, int]] = field(default_factory=list)
    last_post: Post | None = None
    last_profile: str | None = None


class _Draws:
    """Chunked weighted draws with numpy, handed out one by one as Python ints."""

    __slots__ = ("_items", "_p", "_rng", "_values")

    def __init__(self, rng: np.random.Generator, items: np.ndarray, p: np.ndarray) -> None:
        self._rng = rng
        self._items = items
        self._p = p
        self._values: list[int] = []

    def __call__(self) -> int:
        if not self._values:
            self._values = self._rng.choice(self._items, size=4096, p=self._p).tolist()[::-1]
        return self._values.pop()


class TrafficGenerator:
    """Deterministic synthetic traffic: iterate :meth:`batches` to get Segment batches in time order."""

    def __init__(self, config: TrafficConfig) -> None:
        self.config = config
        self.start_ms = int(config.start.timestamp() * 1000)
        np_rng = np.random.default_rng(config.seed)
        self.population = population = Population(
            np_rng,
            users=config.users,
            posts=config.posts,
            campaigns=config.campaigns,
            zipf_exponent=config.zipf_exponent,
            budget_scale=config.budget_scale,
        )
        self._rand = random.Random(config.seed)  # noqa: S311 - reproducible traffic, not secrets
        identity = f"{config.seed}|{self.start_ms}|{config.rate}|{config.users}|{config.posts}"
        self._message_id = MessageIds(identity)
        self._session_ids = MessageIds("session|" + identity)
        self._clock = Clock()
        self._ms_per_event = 1000.0 / config.rate
        self._gap_s = min(config.mean_gap_s, config.max_concurrent_sessions / config.rate)
        self._slot = 0
        self.events_emitted = 0

        self._post_draw = _Draws(np_rng, np.arange(config.posts), population.post_popularity)
        tags = np.arange(len(population.hashtags))
        self._tag_draw = _Draws(np_rng, tags, population.hashtag_popularity)
        self._user_draws = []
        for members in population.users_by_region:
            weights = population.activity[members] if members.size else np.ones(1)
            self._user_draws.append(
                _Draws(np_rng, members if members.size else np.zeros(1, dtype=np.int64), weights / weights.sum())
            )
        self._region_cum: list[float] = []
        self._region_minute = -1
        self._identify = np_rng.random(config.users) < config.identify_share
        self._identified: set[int] = set()
        self._last_seen: dict[int, int] = {}
        self._user_context: dict[int, str] = {}
        self._active: dict[int, int] = {}  # user -> open sessions
        self._due: dict[int, list[_Session]] = {}  # due ms -> sessions, a calendar queue
        self._ready: deque[_Session] = deque()
        self._cursor = self.start_ms
        self._fresh: list[Post] = []
        self._burst_posts: dict[str, list[Post]] = {burst.tag: [] for burst in config.bursts}
        self._burst_second = -1
        self._burst_now: tuple[str, float] | None = None
        self._next_post = config.posts
        self._spend_today: dict[tuple[int, int], int] = {}

        self._action_cum = []
        for segment in SEGMENTS:
            tilt = _SEGMENT_TILT[segment]
            odds = [base * tilt.get(action, 1.0) for action, base in zip(_ACTIONS, _BASE_ODDS, strict=True)]
            self._action_cum.append(list(accumulate(odds)))
        self._campaigns_for_segment: list[list[int]] = []
        self._campaign_cum: list[list[float]] = []
        for segment in SEGMENTS:
            eligible = [i for i, c in enumerate(population.campaigns) if segment in c.target_segments]
            self._campaigns_for_segment.append(eligible)
            self._campaign_cum.append(list(accumulate(population.campaigns[i].weight for i in eligible)))
        self._creative_index = {cr.creative_id: i for i, cr in enumerate(population.creatives)}
        self._seed_sessions()

    # --- public ---------------------------------------------------------------------------------

    def rate_at(self, _ms: int) -> float:
        """Events per second at a simulated instant (constant: the configured rate)."""
        return self.config.rate

    def batches(self, *, seconds: float | None = None, events: int | None = None) -> Iterator[Batch]:
        """Batches in time order until ``seconds`` of simulated time or ``events`` events (one is required).

        Continues where a previous call stopped, so a sender can pull batch by batch.
        """
        if seconds is None and events is None:
            raise ValueError("give seconds or events")
        end_ms = self.start_ms + int(seconds * 1000) if seconds is not None else None
        limit = events if events is not None else None
        size = self.config.batch_size
        flush_ms = int(self.config.flush_interval_s * 1000)
        start_ms, ms_per_event = self.start_ms, self._ms_per_event
        due, ready = self._due, self._ready
        emit, open_session, close, rand = self._emit, self._open_session, self._close, self._rand.random
        id_prefix = self._message_id.prefix  # message n of the run is slot n: one message per slot
        clock = self._clock
        gap_mean_ms = self._gap_s * 1000
        messages: list[str] = []
        facts: list[Fact] = []
        first = 0
        emitted = 0
        while limit is None or emitted < limit:
            t = start_ms + int(self._slot * ms_per_event)
            if end_ms is not None and t >= end_ms:
                break
            if messages and (len(messages) >= size or t - first >= flush_ms):
                yield Batch(messages, facts, first, facts[-1][0])
                messages, facts = [], []
            if not messages:
                first = t
            slot = self._slot
            self._slot = slot + 1
            emitted += 1
            # Sessions whose next action is due by now join the ready line, earliest first.
            cursor = self._cursor
            if t >= cursor:
                if t - cursor < 4 * len(due):  # dense: walk the milliseconds
                    for ms in range(cursor, t + 1):
                        bucket = due.pop(ms, None)
                        if bucket is not None:
                            ready.extend(bucket)
                else:  # sparse (low rates): walk the few buckets that are due
                    for ms in sorted(ms for ms in due if ms <= t):
                        ready.extend(due.pop(ms))
                self._cursor = t + 1
            session = ready.popleft() if ready else open_session(t)
            emit(session, t, clock.iso(t), f"{id_prefix}{slot:012x}", messages, facts)
            if session.remaining > 0 or session.pending:
                gap = int(-log(1.0 - rand()) * gap_mean_ms)
                at = t + (1 if gap < 1 else MAX_GAP_MS if gap > MAX_GAP_MS else gap)
                bucket = due.get(at)
                if bucket is None:
                    due[at] = [session]
                else:
                    bucket.append(session)
            else:
                close(session, t)
        if messages:
            yield Batch(messages, facts, first, facts[-1][0])
        self.events_emitted += emitted

    # --- sessions -------------------------------------------------------------------------------

    def _seed_sessions(self) -> None:
        """Start mid-flight: sessions already open before the first slot, due over the next gaps."""
        count = int(min(self.config.rate * self._gap_s, self.config.max_concurrent_sessions))
        for _ in range(count):
            session = self._open_session(self.start_ms)
            session.started = True
            due = self.start_ms + min(int(self._rand.expovariate(1.0 / self._gap_s) * 1000), MAX_GAP_MS)
            self._due.setdefault(due, []).append(session)

    def _pick_user(self, t: int) -> int:
        minute = t // 60_000
        if minute != self._region_minute:
            self._region_minute = minute
            weights = [region.weight * DIURNAL[((minute + region.utc_offset_min) // 60) % 24] for region in REGIONS]
            self._region_cum = list(accumulate(weights))
        rand = self._rand.random
        cum = self._region_cum
        user = 0
        for _ in range(4):  # prefer someone idle for 30 minutes, so sessions stay apart
            region = min(bisect.bisect(cum, rand() * cum[-1]), len(cum) - 1)
            user = self._user_draws[region]()
            if user not in self._active and t - self._last_seen.get(user, -(1 << 62)) > 30 * 60_000:
                break
        return user

    def _open_session(self, t: int) -> _Session:
        rand = self._rand.random
        population = self.population
        user = self._pick_user(t)
        app = DEVICES[population.device[user]].platform == "app"
        sid = "ses_" + self._session_ids()[-20:].replace("-", "")
        head = self._user_context.get(user)
        if head is None:
            if len(self._user_context) >= 200_000:
                self._user_context.clear()
            head = self._user_context[user] = user_context(population, user)
        landing = None
        referrer = utm = -1
        if not app:
            landing = "/" if rand() < 0.7 else ("/explore", "/search", "/notifications")[int(rand() * 3)]
            referrer = min(bisect.bisect(_REFERRER_CUM, rand() * _REFERRER_CUM[-1]), len(REFERRERS) - 1)
            utm = int(rand() * len(UTM_CAMPAIGNS)) if rand() < 0.15 else -1
        uid = population.user_ids[user]
        tail = session_tail(
            uid, population.anonymous_ids[user], head, sid, landing_path=landing, referrer_index=referrer, utm_index=utm
        )
        if rand() < self.config.bounce_rate:
            remaining = 0
        else:
            remaining = 1 + int(self._rand.expovariate(1.0 / max(self.config.mean_session_events - 1, 1.0)))
        session = _Session(sid, user, uid, tail, app, remaining, self._action_cum[population.segment[user]])
        self._active[user] = self._active.get(user, 0) + 1
        return session

    def _close(self, session: _Session, t: int) -> None:
        self._last_seen[session.user] = t
        left = self._active[session.user] - 1
        if left:
            self._active[session.user] = left
        else:
            del self._active[session.user]

    # --- messages -------------------------------------------------------------------------------

    def _emit(
        self, s: _Session, t: int, timestamp: str, message_id: str, messages: list[str], facts: list[Fact]
    ) -> None:
        """Append the session's next message (and its fact) for the slot at ``t``."""
        if not s.started:
            s.started = True
            if self._identify[s.user] and s.user not in self._identified:
                self._identified.add(s.user)
                s.pending.append(("identify", -1, -1))
            kind, name = ("screen", "Feed") if s.app else ("page", "Home")
            messages.append(
                f'{{"type":"{kind}","name":"{name}","messageId":"{message_id}","timestamp":"{timestamp}",'
                f'"properties":{{"name":"{name}"}},{s.tail}'
            )
            facts.append((t, kind, s.user, s.sid, -1, 0, None, message_id))
            return
        if s.pending:
            kind, campaign_index, creative_index = s.pending.pop(0)
            if kind == "identify":
                traits = json_text(identify_traits(self.population, s.user))
                messages.append(
                    f'{{"type":"identify","messageId":"{message_id}","timestamp":"{timestamp}",'
                    f'"traits":{traits},{s.tail}'
                )
                facts.append((t, "identify", s.user, s.sid, -1, 0, None, message_id))
            else:
                self._ad_followup(s, t, kind, campaign_index, creative_index, timestamp, message_id, messages, facts)
            return
        s.remaining -= 1
        rand = self._rand.random
        cum = s.odds
        action = _ACTIONS[bisect.bisect(cum, rand() * cum[-1])]
        properties: str
        money = 0
        creative_index = -1
        hashtags: list[str] | None = None
        if action == "view" or (s.last_post is None and action in _POST_ACTIONS):
            target = self._view_target(t)
            if target is None:  # the burst has no post yet: this user starts it
                action = "post_created"
                post = self._new_post(s, t, force_tag=True)
                properties = post.json
            else:
                action, post = "view", target
                properties = post.json[:-1] + _SURFACES[int(rand() * len(_SURFACES))]
            s.last_post = post
            hashtags = post.hashtags
        elif action in _POST_ACTIONS:
            last = s.last_post
            assert last is not None
            post = last
            hashtags = post.hashtags
            if action == "comment":
                length = min(2000, 1 + int(self._rand.lognormvariate(3.3, 0.9)))
                properties = f'{post.json[:-1]},"comment_length":{length}}}'
            else:
                properties = post.json
        elif action == "post_created":
            post = self._new_post(s, t, force_tag=False)
            hashtags = post.hashtags
            properties = post.json
        elif action == "profile_visit" or action == "follow":
            if action == "follow" and s.last_profile is not None:
                target_id = s.last_profile
            elif s.last_post is not None and rand() < 0.7:
                target_id = s.last_post.author_id
            else:
                target_id = self.population.posts[self._post_draw()].author_id
            if target_id == s.uid:
                target_id = self.population.posts[0].author_id
            s.last_profile = target_id
            properties = f'{{"target_user_id":"{target_id}"}}'
        elif action == "search":
            properties = f'{{"query":{json_text(self._query(t))}}}'
        else:
            chosen = self._choose_ad(s, t)
            if chosen is None:  # no campaign can serve: the slot shows a post instead
                post = self.population.posts[self._post_draw()]
                action = "view"
                s.last_post = post
                hashtags = post.hashtags
                properties = post.json[:-1] + _SURFACES[0]
            else:
                campaign_index, creative_index = chosen
                campaign = self.population.campaigns[campaign_index]
                money = campaign.spend_per_impression_micros
                properties = (
                    f'{{"campaign_id":"{campaign.campaign_id}",'
                    f'"creative_id":"{self.population.creatives[creative_index].creative_id}",'
                    f'"spend_micros":{money},"placement":"feed"}}'
                )
                if rand() < campaign.ctr:
                    s.pending.append(("ad_click", campaign_index, creative_index))
        messages.append(
            f'{{"type":"track","event":"{action}","messageId":"{message_id}","timestamp":"{timestamp}",'
            f'"properties":{properties},{s.tail}'
        )
        facts.append((t, action, s.user, s.sid, creative_index, money, hashtags, message_id))

    def _ad_followup(
        self,
        s: _Session,
        t: int,
        kind: str,
        campaign_index: int,
        creative_index: int,
        timestamp: str,
        message_id: str,
        messages: list[str],
        facts: list[Fact],
    ) -> None:
        """A click queued by an impression (at the campaign's CTR), or a conversion queued by a click (CVR)."""
        campaign = self.population.campaigns[campaign_index]
        creative = self.population.creatives[creative_index]
        ids = f'"campaign_id":"{campaign.campaign_id}","creative_id":"{creative.creative_id}"'
        money = 0
        if kind == "ad_click":
            properties = f"{{{ids}}}"
            if self._rand.random() < campaign.cvr:
                s.pending.append(("conversion", campaign_index, creative_index))
        else:
            money = campaign.revenue_micros
            properties = f'{{{ids},"revenue_micros":{money},"currency":"USD"}}'
        messages.append(track(kind, message_id, timestamp, properties, s.tail))
        facts.append((t, kind, s.user, s.sid, creative_index, money, None, message_id))

    def _active_burst(self, t: int) -> tuple[str, float] | None:
        """The trending tag at ``t`` and its share of content, re-evaluated once per simulated second."""
        second = t // 1000
        if second != self._burst_second:
            self._burst_second = second
            self._burst_now = None
            offset = second * 1000 - self.start_ms
            for burst in self.config.bursts:
                share = burst.intensity(offset)
                if share > 0:
                    self._burst_now = (burst.tag, share)
                    break
        return self._burst_now

    def _view_target(self, t: int) -> Post | None:
        """Which post a view lands on: a trending one during a burst (None: the burst needs a new
        post first), a fresh one, or one drawn by Zipf popularity."""
        rand = self._rand.random
        burst = self._active_burst(t) if self.config.bursts else None
        if burst is not None and rand() < burst[1]:
            pool = self._burst_posts[burst[0]]
            if not pool or rand() < 0.02:
                return None
            return pool[int(rand() * len(pool))]
        if self._fresh and rand() < 0.1:
            return self._fresh[int(rand() * len(self._fresh))]
        return self.population.posts[self._post_draw()]

    def _new_post(self, s: _Session, t: int, *, force_tag: bool) -> Post:
        rand = self._rand.random
        population = self.population
        self._next_post += 1
        n_tags = int(rand() * 4)
        tags = list(dict.fromkeys(population.hashtags[self._tag_draw()] for _ in range(n_tags)))
        burst = self._active_burst(t) if self.config.bursts else None
        if burst is not None and (force_tag or rand() < min(1.0, 2 * burst[1])):
            tags = [burst[0], *[tag for tag in tags if tag != burst[0]]][:3]
        category = population.posts[self._post_draw()].category
        post = Post(f"p{self._next_post:09d}", s.uid, category, tags)
        if burst is not None and burst[0] in tags:
            self._burst_posts[burst[0]].append(post)
        self._fresh.append(post)
        if len(self._fresh) > 2000:
            del self._fresh[:1000]
        return post

    def _query(self, t: int) -> str:
        rand = self._rand.random
        burst = self._active_burst(t) if self.config.bursts else None
        if burst is not None and rand() < burst[1]:
            return "#" + burst[0]
        if rand() < 0.3:
            return "#" + self.population.hashtags[self._tag_draw()]
        words = [SEARCH_WORDS[int(rand() * len(SEARCH_WORDS))] for _ in range(1 + int(rand() * 3))]
        return " ".join(words)

    def _choose_ad(self, s: _Session, t: int) -> tuple[int, int] | None:
        """A campaign targeting the user's segment with budget left today, and one of its creatives."""
        segment = self.population.segment[s.user]
        eligible = self._campaigns_for_segment[segment]
        if not eligible:
            return None
        cum = self._campaign_cum[segment]
        pick = min(bisect.bisect(cum, self._rand.random() * cum[-1]), len(eligible) - 1)
        day = t // 86_400_000
        for offset in range(len(eligible)):
            index = eligible[(pick + offset) % len(eligible)]
            campaign = self.population.campaigns[index]
            spent = self._spend_today.get((index, day), 0)
            cost = campaign.spend_per_impression_micros
            if spent + cost <= campaign.daily_budget_micros:
                self._spend_today[index, day] = spent + cost
                creative = campaign.creatives[int(self._rand.random() * len(campaign.creatives))]
                return index, self._creative_index[creative.creative_id]
        return None


_REFERRER_CUM = list(accumulate(weight for _, weight in REFERRERS))
