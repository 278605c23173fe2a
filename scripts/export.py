#!/usr/bin/env python
"""See `graphkd.apps.export` (installed as ``graphkd-export``): TorchScript / ONNX export, checked.

Usage: python scripts/export.py checkpoint=RUN_DIR [out=DIR] [formats=torchscript,onnx] ...
"""

from graphkd.apps.export import cli, default_pages, main  # noqa: F401  (the callable API, for tests)

if __name__ == "__main__":
    cli()
