#!/usr/bin/env python
"""See `graphkd.apps.demo` (what `make demo` runs). Example: python scripts/demo.py seeds=3 trainer.max_iter=100"""

from graphkd.apps.demo import main

if __name__ == "__main__":
    main()
