#!/usr/bin/env python
"""See `graphkd.apps.export`. Example: python scripts/export.py checkpoint=RUN_DIR [formats=torchscript,onnx]"""

from graphkd.apps.export import main

if __name__ == "__main__":
    main()
