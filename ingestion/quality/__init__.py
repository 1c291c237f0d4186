"""Bronze quality: Great Expectations suites (files under ``expectations/``) that guard bronze against schema drift.

* :mod:`.catalog`  what a bronze table holds: column types from the warehouse catalog, which columns each period's
  files arrived with (the publication manifest), and when each column first appeared;
* :mod:`.suites`   the suite files: write a first suite from a table, read one, accept drift into it;
* :mod:`.rules`    the drift model (added, removed and retyped columns) and the pure rules: classifying what the
  schema checks found, a suite's policy, the ledger's JSON form of a drift; no GX, dlt or warehouse;
* :mod:`.validate` run the suites with GX against the warehouse, hand the findings to the rules, write the results
  to the run ledger and build GX Data Docs;
* :mod:`.drift`    ``ingestion drift``: each table's drift over its periods, and accepting it into the suite.
"""
