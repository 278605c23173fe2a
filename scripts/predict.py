#!/usr/bin/env python
"""See `graphkd.apps.predict` (installed as ``graphkd-predict``): detect on page images and PDFs.

Usage: python scripts/predict.py checkpoint=RUN_DIR input=DIR_OR_FILES out=DIR [score_thresh=0.5] [dpi=150]
"""

from graphkd.apps.predict import cli, main  # noqa: F401  (main: the callable API, e.g. for tests)

if __name__ == "__main__":
    cli()
