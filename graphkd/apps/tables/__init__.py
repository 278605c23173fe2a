"""The docs' results tables, each built from the files a command left, never typed.

- :mod:`~graphkd.apps.tables.runs`: what an output folder holds (finished runs, their teacher)
  and whether its runs were made with the settings a table claims;
- :mod:`~graphkd.apps.tables.demo`: the demo's paired table and scores on real pages;
- :mod:`~graphkd.apps.tables.recipe`: the real-page recipe's tables (one folder, teacher seeds,
  kd methods paired by seeds);
- :mod:`~graphkd.apps.tables.latency`: the latency benchmark's table.

``scripts/doc_tables.py`` (:mod:`graphkd.apps.doc_tables`) writes them into the docs' marker
blocks (:mod:`graphkd.apps.doc_blocks`).
"""
