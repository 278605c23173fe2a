#!/usr/bin/env python
"""See `graphkd.apps.tools.visualize_graph`. Example: python scripts/visualize_graph.py teacher=T student=S image=P.jpg out=g.png"""

from graphkd.apps.tools.visualize_graph import main

if __name__ == "__main__":
    main()
