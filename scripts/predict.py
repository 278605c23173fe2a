#!/usr/bin/env python
"""See `graphkd.apps.predict`. Example: python scripts/predict.py checkpoint=RUN_DIR input=DIR_OR_FILES out=DIR"""

from graphkd.apps.predict import main

if __name__ == "__main__":
    main()
