#!/usr/bin/env python
"""See `graphkd.apps.tools.make_synthetic`. Example: python scripts/make_synthetic.py out=outputs/pages num_pages=8 seed=0"""

from graphkd.apps.tools.make_synthetic import main

if __name__ == "__main__":
    main()
