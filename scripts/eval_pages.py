#!/usr/bin/env python
"""See `graphkd.apps.real_pages`. Example: python scripts/eval_pages.py checkpoint=RUN_DIR gt=FOLDER out=DIR"""

from graphkd.apps.real_pages import main

if __name__ == "__main__":
    main()
