"""Local stack: installs and supervises Kafka, Redis, the S3 server and the embedded warehouse."""
