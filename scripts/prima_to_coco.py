#!/usr/bin/env python
"""See `graphkd.apps.tools.prima_to_coco`. Example: python scripts/prima_to_coco.py xml_dir=ROOT/prima/XML out_dir=ROOT/prima/COCO"""

from graphkd.apps.tools.prima_to_coco import main

if __name__ == "__main__":
    main()
