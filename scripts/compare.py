#!/usr/bin/env python
"""See `graphkd.apps.compare`. Example: python scripts/compare.py methods=none,dsig,graphkd seeds=0,1,2"""

from graphkd.apps.compare import main

if __name__ == "__main__":
    main()
