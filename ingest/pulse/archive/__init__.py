"""The cold tier: raw Kafka messages archived as Parquet in S3, replayable into the warehouse."""
