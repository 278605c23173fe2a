"""Benchmarks behind ``scripts/bench*.py``: training-step cost (:mod:`.train_step`), graph
construction against a naive reference (:mod:`.graph_build`, :mod:`.graph_naive`) and inference
latency (:mod:`.latency`). Each prints one JSON report."""
