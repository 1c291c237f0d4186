"""Runs of the declared sources into the warehouse, one function per source family."""
