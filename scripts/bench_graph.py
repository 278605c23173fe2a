#!/usr/bin/env python
"""See `graphkd.apps.bench.graph_build`. Example: python scripts/bench_graph.py sizes=64,256 repeats=3"""

from graphkd.apps.bench.graph_build import main

if __name__ == "__main__":
    main()
