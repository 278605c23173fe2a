#!/usr/bin/env python
"""See `graphkd.apps.bench.predict_pages`. Example: python scripts/bench_predict.py checkpoint=outputs/demo/runs/graphkd/seed0 backends=eager,auto"""

from graphkd.apps.bench.predict_pages import main

if __name__ == "__main__":
    main()
