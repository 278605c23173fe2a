#!/usr/bin/env python
"""See `graphkd.apps.demo_real` (what `make demo-real` runs). Example: python scripts/demo_real.py seeds=3 trainer.teacher_max_iter=2400"""

from graphkd.apps.demo_real import main

if __name__ == "__main__":
    main()
