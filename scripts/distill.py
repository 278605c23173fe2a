#!/usr/bin/env python
"""See `graphkd.apps.cli`. Example: python scripts/distill.py dataset=synthetic pair=r50_r18"""

from graphkd.apps.cli import distill_main

if __name__ == "__main__":
    distill_main()
