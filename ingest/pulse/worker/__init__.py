"""What the long-running Kafka consumers (loader, archiver, hot updater) share: the consumer, retries,
client-retry memory, health and signal handling."""
