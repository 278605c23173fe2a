"""The small command-line tools behind ``scripts/`` (page data, drawing, graph studies).

Each module holds one tool: its options dataclass (registered with
:func:`graphkd.apps.tool.register_tool`), the function doing the work and ``main``.
"""
