"""Who and what the synthetic traffic is about: users, devices, posts, hashtags and ad campaigns.

Everything is drawn once, vectorised, from one seeded numpy generator, so two generators with
the same seed see the same world. Strings that are sent again and again (ids, user agents)
are built here once, so the hot loop only picks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np

# --- geography: country -> region (with its UTC offset and IANA zone) -> cities -----------------


@dataclass(frozen=True)
class Region:
    country: str
    name: str
    timezone: str
    utc_offset_min: int
    cities: tuple[str, ...]
    weight: float  # share of the world's users


@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    language: str
    regions: tuple[Region, ...]


def _country(
    code: str, locale: str, share: float, regions: list[tuple[str, str, int, tuple[str, ...], float]]
) -> Country:
    total = sum(region[4] for region in regions)
    return Country(
        code=code,
        locale=locale,
        language=locale.split("-")[0],
        regions=tuple(
            Region(code, name, zone, offset, cities, share * weight / total)
            for name, zone, offset, cities, weight in regions
        ),
    )


#: (country, locale, share of all users) -> regions: (name, IANA zone, UTC offset in minutes, cities, weight)
_GEOGRAPHY: dict[tuple[str, str, float], list[tuple[str, str, int, tuple[str, ...], float]]] = {
    ("US", "en-US", 0.30): [
        ("California", "America/Los_Angeles", -480, ("Los Angeles", "San Francisco", "San Diego"), 0.4),
        ("New York", "America/New_York", -300, ("New York", "Buffalo"), 0.35),
        ("Texas", "America/Chicago", -360, ("Houston", "Austin", "Dallas"), 0.25),
    ],
    ("BR", "pt-BR", 0.12): [
        ("Sao Paulo", "America/Sao_Paulo", -180, ("Sao Paulo", "Campinas"), 0.6),
        ("Rio de Janeiro", "America/Sao_Paulo", -180, ("Rio de Janeiro", "Niteroi"), 0.4),
    ],
    ("IN", "en-IN", 0.16): [
        ("Maharashtra", "Asia/Kolkata", 330, ("Mumbai", "Pune"), 0.5),
        ("Karnataka", "Asia/Kolkata", 330, ("Bengaluru", "Mysuru"), 0.5),
    ],
    ("GB", "en-GB", 0.09): [
        ("England", "Europe/London", 0, ("London", "Manchester", "Bristol"), 0.8),
        ("Scotland", "Europe/London", 0, ("Edinburgh", "Glasgow"), 0.2),
    ],
    ("DE", "de-DE", 0.09): [
        ("Berlin", "Europe/Berlin", 60, ("Berlin",), 0.3),
        ("Bavaria", "Europe/Berlin", 60, ("Munich", "Nuremberg"), 0.7),
    ],
    ("FR", "fr-FR", 0.08): [
        ("Ile-de-France", "Europe/Paris", 60, ("Paris", "Versailles"), 0.6),
        ("Auvergne-Rhone-Alpes", "Europe/Paris", 60, ("Lyon", "Grenoble"), 0.4),
    ],
    ("JP", "ja-JP", 0.10): [
        ("Tokyo", "Asia/Tokyo", 540, ("Tokyo",), 0.6),
        ("Osaka", "Asia/Tokyo", 540, ("Osaka", "Sakai"), 0.4),
    ],
    ("AU", "en-AU", 0.06): [
        ("New South Wales", "Australia/Sydney", 600, ("Sydney", "Newcastle"), 0.6),
        ("Victoria", "Australia/Melbourne", 600, ("Melbourne", "Geelong"), 0.4),
    ],
}
COUNTRIES: tuple[Country, ...] = tuple(
    _country(code, locale, share, regions) for (code, locale, share), regions in _GEOGRAPHY.items()
)
REGIONS: tuple[Region, ...] = tuple(region for country in COUNTRIES for region in country.regions)
COUNTRY_OF_CODE = {country.code: country for country in COUNTRIES}

#: Relative activity by local hour: quiet at night, a lunch bump, the peak in the evening.
DIURNAL: tuple[float, ...] = (
    0.45, 0.30, 0.20, 0.15, 0.15, 0.20, 0.35, 0.60, 0.80, 0.85, 0.90, 0.95,  # 00 to 11 h
    1.05, 1.00, 0.95, 0.95, 1.00, 1.10, 1.30, 1.55, 1.75, 1.80, 1.50, 0.90,  # 12 to 23 h
)  # fmt: skip

AGE_BANDS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55+")
AGE_WEIGHTS = (0.06, 0.28, 0.30, 0.18, 0.10, 0.08)
SEGMENTS = ("casual", "power_user", "creator", "lurker", "business")
SEGMENT_WEIGHTS = (0.48, 0.15, 0.08, 0.24, 0.05)


# --- devices: the user agents real clients send, with what a UA parser should find in them -------


@dataclass(frozen=True)
class DeviceProfile:
    user_agent: str
    device_type: str  # mobile | tablet | desktop
    os: str  # the OS family a ua-parser (uap-core) finds in the user agent: iOS, Android, Windows, Mac OS X, Ubuntu
    os_version: str
    browser: str  # app name for native apps
    platform: str  # app | web
    library: str
    library_version: str
    manufacturer: str
    model: str
    weight: float


DEVICES: tuple[DeviceProfile, ...] = (
    DeviceProfile(
        "Pulse/8.12.0 (com.pulse.social; build:81200; iOS 17.5.1) Alamofire/5.9.1",
        "mobile",
        "iOS",
        "17.5.1",
        "Pulse iOS",
        "app",
        "analytics-ios",
        "4.1.8",
        "Apple",
        "iPhone15,2",
        0.20,
    ),
    DeviceProfile(
        "Pulse/8.11.2 (iPad13,18; iPadOS 17.4.1; Scale/2.00) CFNetwork/1494.0.7 Darwin/23.4.0",
        "tablet",
        "iOS",
        "17.4.1",
        "Pulse iOS",
        "app",
        "analytics-ios",
        "4.1.8",
        "Apple",
        "iPad13,18",
        0.04,
    ),
    DeviceProfile(
        "Pulse/8.12.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005) okhttp/4.12.0",
        "mobile",
        "Android",
        "14",
        "Pulse Android",
        "app",
        "analytics-android",
        "4.11.3",
        "Google",
        "Pixel 8",
        0.12,
    ),
    DeviceProfile(
        "Pulse/8.12.0 (Linux; U; Android 13; SM-S911B Build/TP1A.220624.014) okhttp/4.12.0",
        "mobile",
        "Android",
        "13",
        "Pulse Android",
        "app",
        "analytics-android",
        "4.11.3",
        "samsung",
        "SM-S911B",
        0.16,
    ),
    DeviceProfile(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        "mobile",
        "iOS",
        "17.5",
        "Mobile Safari",
        "web",
        "analytics.js",
        "5.2.0",
        "Apple",
        "iPhone",
        0.09,
    ),
    DeviceProfile(
        "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.6478.122 Mobile Safari/537.36",
        "mobile",
        "Android",
        "14",
        "Chrome Mobile",
        "web",
        "analytics.js",
        "5.2.0",
        "Google",
        "Pixel 7",
        0.08,
    ),
    DeviceProfile(
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        "mobile",
        "Android",
        "13",
        "Samsung Internet",
        "web",
        "analytics.js",
        "5.2.0",
        "samsung",
        "SM-A546B",
        0.03,
    ),
    DeviceProfile(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        "desktop",
        "Windows",
        "10",
        "Chrome",
        "web",
        "analytics.js",
        "5.2.0",
        "",
        "",
        0.14,
    ),
    DeviceProfile(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
        "desktop",
        "Windows",
        "10",
        "Edge",
        "web",
        "analytics.js",
        "5.2.0",
        "",
        "",
        0.04,
    ),
    DeviceProfile(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        "desktop",
        "Mac OS X",
        "10.15.7",
        "Safari",
        "web",
        "analytics.js",
        "5.2.0",
        "",
        "",
        0.06,
    ),
    DeviceProfile(
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
        "desktop",
        "Ubuntu",
        "",
        "Firefox",
        "web",
        "analytics.js",
        "5.2.0",
        "",
        "",
        0.04,
    ),
)

# --- content vocabulary -----------------------------------------------------------------------------

CATEGORIES = (
    "lifestyle",
    "music",
    "sports",
    "food",
    "travel",
    "tech",
    "gaming",
    "fashion",
    "news",
    "comedy",
    "art",
    "fitness",
    "pets",
    "education",
)
_TAG_WORDS = (
    "travel",
    "foodie",
    "fitness",
    "music",
    "art",
    "photography",
    "nature",
    "style",
    "gaming",
    "tech",
    "coffee",
    "sunset",
    "weekend",
    "love",
    "friends",
    "summer",
    "vibes",
    "running",
    "yoga",
    "books",
    "cats",
    "dogs",
    "design",
    "football",
    "basketball",
    "recipe",
    "vegan",
    "diy",
    "makeup",
    "cinema",
    "anime",
    "startup",
    "crypto",
    "ai",
    "science",
    "space",
    "hiking",
    "beach",
    "city",
    "streetart",
)
_TAG_SUFFIXES = ("", "life", "daily", "lovers", "gram", "tips", "goals", "time", "club", "world")
SEARCH_WORDS = (
    "recipes",
    "workout",
    "playlist",
    "best",
    "cheap",
    "flights",
    "news",
    "how to",
    "tutorial",
    "review",
    "near me",
    "2024",
    "ideas",
    "outfit",
    "funny",
    "memes",
    "live",
    "highlights",
    "guide",
)
REFERRERS = (
    ("https://www.google.com/", 0.35),
    ("", 0.30),
    ("https://t.co/", 0.10),
    ("https://www.facebook.com/", 0.10),
    ("https://www.reddit.com/", 0.08),
    ("https://news.ycombinator.com/", 0.07),
)
UTM_CAMPAIGNS = (
    ("newsletter", "email", "weekly_digest"),
    ("google", "cpc", "brand_search"),
    ("facebook", "social", "spring_launch"),
    ("tiktok", "paid_social", "creator_fund"),
)
TEST_NETS = ("192.0.2.", "198.51.100.", "203.0.113.")  # RFC 5737 documentation ranges only
WEB_HOST = "https://pulse.example"


def hashtag_vocabulary() -> tuple[str, ...]:
    """All ordinary tags, most popular first (the draw is Zipf over this order)."""
    return tuple(word + suffix for suffix in _TAG_SUFFIXES for word in _TAG_WORDS)


def zipf_weights(n: int, exponent: float) -> np.ndarray:
    """Normalised rank-popularity weights 1/rank^s: a few items take most of the attention."""
    weights: np.ndarray = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    normalised: np.ndarray = weights / weights.sum()
    return normalised


# --- campaigns ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Creative:
    creative_id: str
    campaign_id: str


@dataclass(frozen=True)
class AdCampaign:
    """An advertiser's campaign with the rates the truth can be checked against."""

    campaign_id: str
    advertiser: str
    creatives: tuple[Creative, ...]
    target_segments: tuple[str, ...]
    ctr: float  # clicks per impression
    cvr: float  # conversions per click
    cpm_micros: int  # price of 1000 impressions
    revenue_micros: int  # revenue of one conversion
    daily_budget_micros: int
    weight: float  # share of ad slots it bids for

    @property
    def spend_per_impression_micros(self) -> int:
        return self.cpm_micros // 1000


_ADVERTISERS = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Adatum",
    "Proseware",
    "Lucerne",
    "Margie",
    "Fourth Coffee",
    "Alpine Ski",
)


def make_campaigns(rng: np.random.Generator, count: int, budget_scale: float = 1.0) -> tuple[AdCampaign, ...]:
    campaigns: list[AdCampaign] = []
    for index in range(count):
        campaign_id = f"cmp_{index + 1:03d}"
        n_creatives = int(rng.integers(2, 5))
        segments = rng.choice(len(SEGMENTS), size=int(rng.integers(1, 4)), replace=False)
        campaigns.append(
            AdCampaign(
                campaign_id=campaign_id,
                advertiser=_ADVERTISERS[index % len(_ADVERTISERS)],
                creatives=tuple(Creative(f"{campaign_id}_cr{c + 1}", campaign_id) for c in range(n_creatives)),
                target_segments=tuple(sorted(SEGMENTS[int(s)] for s in segments)),
                ctr=round(float(rng.uniform(0.01, 0.06)), 4),
                cvr=round(float(rng.uniform(0.03, 0.15)), 4),
                cpm_micros=int(rng.integers(2_000, 15_000)) * 1_000,
                revenue_micros=int(rng.integers(500, 12_000)) * 10_000,
                daily_budget_micros=int(int(rng.integers(200, 5_000)) * 1_000_000 * budget_scale),
                weight=round(float(rng.uniform(0.5, 2.0)), 3),
            )
        )
    return tuple(campaigns)


# --- the population -----------------------------------------------------------------------------------


class Population:
    """Users (as parallel arrays plus their id strings), posts under Zipf popularity, campaigns."""

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        users: int,
        posts: int,
        campaigns: int,
        zipf_exponent: float = 1.1,
        budget_scale: float = 1.0,
    ) -> None:
        self.n_users = users
        region_weights = np.array([region.weight for region in REGIONS])
        region = rng.choice(len(REGIONS), size=users, p=region_weights / region_weights.sum())
        n_cities = np.array([len(r.cities) for r in REGIONS])
        city = rng.integers(0, 1 << 30, size=users) % n_cities[region]
        age_band = rng.choice(len(AGE_BANDS), size=users, p=np.array(AGE_WEIGHTS) / sum(AGE_WEIGHTS))
        segment = rng.choice(len(SEGMENTS), size=users, p=np.array(SEGMENT_WEIGHTS) / sum(SEGMENT_WEIGHTS))
        device_weights = np.array([device.weight for device in DEVICES])
        device = rng.choice(len(DEVICES), size=users, p=device_weights / device_weights.sum())
        # Heavy-tailed activity: a few users open many sessions.
        self.activity = rng.lognormal(0.0, 1.0, size=users)
        ip_host = rng.integers(0, len(TEST_NETS) * 254, size=users)
        # Per-user attributes as lists of indexes: the hot loop reads single items, where lists beat numpy.
        self.region: list[int] = region.tolist()
        self.city: list[int] = city.tolist()
        self.age_band: list[int] = age_band.tolist()
        self.segment: list[int] = segment.tolist()
        self.device: list[int] = device.tolist()
        self.ip_host: list[int] = ip_host.tolist()
        self.users_by_region: list[np.ndarray] = [np.flatnonzero(region == r) for r in range(len(REGIONS))]

        ids = rng.permutation(users) + 1
        self.user_ids: list[str] = [f"u{n:08d}" for n in ids.tolist()]
        anon = rng.integers(0, 1 << 63, size=(users, 2), dtype=np.int64)
        self.anonymous_ids: list[str] = [_uuid4_text(int(a), int(b)) for a, b in anon.tolist()]

        # Posts: rank 0 is the most popular; authors are mostly creators.
        self.n_posts = posts
        self.hashtags = hashtag_vocabulary()
        creators = np.flatnonzero(segment == SEGMENTS.index("creator"))
        if creators.size == 0:
            creators = np.arange(users)
        author = np.where(
            rng.random(posts) < 0.8,
            creators[rng.integers(0, creators.size, size=posts)],
            rng.integers(0, users, size=posts),
        )
        category = rng.choice(len(CATEGORIES), size=posts, p=zipf_weights(len(CATEGORIES), 0.8))
        n_tags = rng.choice(4, size=posts, p=[0.25, 0.35, 0.25, 0.15])
        tag_draws = rng.choice(len(self.hashtags), size=(posts, 3), p=zipf_weights(len(self.hashtags), 1.0))
        self.post_popularity = zipf_weights(posts, zipf_exponent)
        self.hashtag_popularity = zipf_weights(len(self.hashtags), 1.0)
        self.posts: list[Post] = []
        for index, (a, c, k, tags) in enumerate(
            zip(author.tolist(), category.tolist(), n_tags.tolist(), tag_draws.tolist(), strict=True)
        ):
            chosen = list(dict.fromkeys(self.hashtags[t] for t in tags[:k]))
            self.posts.append(Post(f"p{index + 1:09d}", self.user_ids[a], CATEGORIES[c], chosen))

        self.campaigns = make_campaigns(rng, campaigns, budget_scale)
        self.creatives: tuple[Creative, ...] = tuple(cr for campaign in self.campaigns for cr in campaign.creatives)

    def ip(self, user: int) -> str:
        host = self.ip_host[user]
        return f"{TEST_NETS[host // 254]}{host % 254 + 1}"


class Post:
    """A post and its ``properties`` JSON text, encoded once because it is sent with every view."""

    __slots__ = ("author_id", "category", "hashtags", "json", "post_id")

    def __init__(self, post_id: str, author_id: str, category: str, hashtags: list[str]) -> None:
        self.post_id = post_id
        self.author_id = author_id
        self.category = category
        self.hashtags = hashtags
        self.json = _encode_text(
            {"post_id": post_id, "author_id": author_id, "category": category, "hashtags": hashtags}
        )

    def __repr__(self) -> str:
        return f"Post({self.json})"


def _encode_text(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _uuid4_text(high: int, low: int) -> str:
    """A version-4-shaped UUID string from two random 63-bit integers (no uuid module in the hot path)."""
    value = ((high & ((1 << 63) - 1)) << 65) | ((low & ((1 << 63) - 1)) << 2)
    value = (value & ~(0xF << 76)) | (0x4 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
