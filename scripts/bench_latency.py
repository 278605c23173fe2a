#!/usr/bin/env python
"""See `graphkd.apps.bench.latency`. Example: python scripts/bench_latency.py bench.sizes=800 bench.pairs=r50_r18,r50_mnv2"""

from graphkd.apps.bench.latency import main

if __name__ == "__main__":
    main()
