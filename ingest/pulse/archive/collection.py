"""The archive as ClickHouse reaches it: the ``pulse_archive`` named collection, rendered from the settings.

Queries over the archive name the collection (``s3(pulse_archive, filename = …)``) instead of
carrying an endpoint and keys in their text, so SQL in panels, named queries and Explore holds no
credential, and access to the archive is one grant (``NAMED COLLECTION pulse_archive``).
The collection's URL is the archive's root (``<bucket>/<prefix>/``): a query adds the topic and
partition folders as ``filename``. ClickHouse's S3 collections take no region key: on AWS the
region is part of the virtual-host URL, as for replay (:func:`pulse.archive.replay.object_url`).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from pulse.archive.replay import object_url
from pulse.settings import Settings

#: The name every archive query uses.
NAME = "pulse_archive"


def url(settings: Settings) -> str:
    """The archive's root as ClickHouse reaches it (``settings.archive.clickhouse_s3_endpoint`` first)."""
    return object_url(settings, f"{settings.archive.prefix.strip('/')}/")


def fragment(settings: Settings) -> str:
    """The ``config.d`` fragment that defines the collection (values XML-escaped)."""
    keys = {
        "url": url(settings),
        "access_key_id": settings.s3.access_key_id,
        "secret_access_key": settings.s3.secret_access_key,
        "format": "Parquet",
    }
    body = "".join(f"<{key}>{escape(value)}</{key}>" for key, value in keys.items())
    return f"<clickhouse><named_collections><{NAME}>{body}</{NAME}></named_collections></clickhouse>\n"
