"""The archive bucket through boto3: AWS S3 or any S3-compatible server (endpoint, region, SSE)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config

from pulse.archive.layout import ArchiveObject, intent_key, intent_prefix, parse_intent, parse_key
from pulse.settings import Settings
from pulse.tls import s3_verify


def s3_client(settings: Settings) -> Any:
    """Path-style addressing for custom endpoints (no wildcard DNS); virtual hosts on AWS."""
    s3 = settings.s3
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url or None,  # empty means AWS S3
        verify=s3_verify(s3),
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        config=Config(
            s3={"addressing_style": "path" if s3.endpoint_url else "auto"},
            connect_timeout=2,
            read_timeout=30,
            retries={"max_attempts": 1},  # the archiver retries itself, with backoff and metrics
        ),
    )


class ArchiveStore:
    """Objects of one bucket under ``settings.archive.prefix``."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.bucket = settings.s3.bucket
        self.prefix = settings.archive.prefix
        self.client = client or s3_client(settings)

    def _sse(self) -> dict[str, str]:
        """The SSE-S3 / SSE-KMS request headers, when configured (N6: encryption at rest)."""
        extra: dict[str, str] = {}
        if self.settings.s3.sse:
            extra["ServerSideEncryption"] = self.settings.s3.sse
            if self.settings.s3.sse == "aws:kms" and self.settings.s3.sse_kms_key_id:
                extra["SSEKMSKeyId"] = self.settings.s3.sse_kms_key_id
        return extra

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **self._sse())

    def put_archive(self, obj: ArchiveObject, body: bytes) -> str:
        key = obj.key(self.prefix)
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet", **self._sse()
        )
        return key

    def record_intent(self, obj: ArchiveObject) -> None:
        self.put(intent_key(self.prefix, obj), b"")

    def forget_intent(self, obj: ArchiveObject) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=intent_key(self.prefix, obj))

    def intents(self, topic: str, partition: int, from_offset: int) -> list[ArchiveObject]:
        """Ranges recorded for a partition that start at or after ``from_offset`` (its commit)."""
        prefix = intent_prefix(self.prefix, topic, partition)
        ranges = []
        for key in self._keys(prefix, start_after=f"{prefix}{from_offset - 1:020d}~" if from_offset > 0 else None):
            obj = parse_intent(topic, partition, key[len(prefix) :])
            if obj is not None and obj.first >= from_offset:
                ranges.append(obj)
        return sorted(ranges, key=lambda o: o.first)

    def archived(self, prefix: str) -> Iterator[tuple[ArchiveObject, int]]:
        """Archive files (with their size in bytes) under a key prefix."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                obj = parse_key(self.prefix, item["Key"])
                if obj is not None:
                    yield obj, int(item["Size"])

    def _keys(self, prefix: str, start_after: str | None) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        options: dict[str, str] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            options["StartAfter"] = start_after
        for page in paginator.paginate(**options):
            for item in page.get("Contents", []):
                yield str(item["Key"])
