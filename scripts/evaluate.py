#!/usr/bin/env python
"""See `graphkd.apps.evaluate`. Example: python scripts/evaluate.py gt=GT.json predictions=PRED.json [out=metrics.json]"""

from graphkd.apps.evaluate import main

if __name__ == "__main__":
    main()
