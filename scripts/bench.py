#!/usr/bin/env python
"""See `graphkd.apps.bench.train_step`. Example: python scripts/bench.py pair=r101_r50 bench.iters=10"""

from graphkd.apps.bench.train_step import main

if __name__ == "__main__":
    main()
