"""Tooling around the product, not part of it: the sample-data generator, the local service-desk API and the
benchmark. Tests, ``make demo`` and ``make bench`` use them; no pipeline module imports them."""
