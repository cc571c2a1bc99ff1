"""I/O adapters: the only modules that talk to Kafka, S3 and PostgreSQL."""
