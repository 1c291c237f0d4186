"""Ingestion side of the project: declared sources, readers, dlt pipelines and the CLI."""
