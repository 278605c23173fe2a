#!/usr/bin/env python
"""See `graphkd.apps.tools.region_gnn`. Example: python scripts/region_gnn.py conv=sage seeds=3"""

from graphkd.apps.tools.region_gnn import main

if __name__ == "__main__":
    main()
