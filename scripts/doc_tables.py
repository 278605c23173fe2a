#!/usr/bin/env python
"""Write the docs' generated tables (docs/configuration.md, docs/results.md, README.md).

python scripts/doc_tables.py what=config | what=results [demo=outputs/demo] | what=check
"""

from graphkd.apps.doc_tables import main

if __name__ == "__main__":
    main()
