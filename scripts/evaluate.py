#!/usr/bin/env python
"""See `graphkd.apps.evaluate` (installed as ``graphkd-evaluate``).

Usage: python scripts/evaluate.py gt=GT.json predictions=PRED.json [out=metrics.json]
"""

from graphkd.apps.evaluate import cli

if __name__ == "__main__":
    cli()
