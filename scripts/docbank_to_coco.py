#!/usr/bin/env python
"""See `graphkd.apps.tools.docbank_to_coco`. Example: python scripts/docbank_to_coco.py token_dir=DIR out_dir=datasets/docbank"""

from graphkd.apps.tools.docbank_to_coco import main

if __name__ == "__main__":
    main()
