#!/usr/bin/env python
"""See `graphkd.apps.tools.draw_coco`. Example: python scripts/draw_coco.py json=GT.json images=DIR out=DIR"""

from graphkd.apps.tools.draw_coco import main

if __name__ == "__main__":
    main()
