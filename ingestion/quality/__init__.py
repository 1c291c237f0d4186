"""Bronze quality: Great Expectations suites (files under ``expectations/``) that guard bronze against schema drift.

* :mod:`.catalog`  what a bronze table holds: column types from the warehouse catalog, which columns each period's
  files arrived with (the publication manifest), and when each column first appeared;
* :mod:`.suites`   the suite files: write a first suite from a table, read one, accept drift into it;
* :mod:`.validate` run the suites with GX against the warehouse, classify drift, apply each table's policy, write
  the results to the run ledger and build GX Data Docs.
"""
