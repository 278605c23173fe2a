#!/usr/bin/env python
"""See `graphkd.apps.cli`. Example: python scripts/train_teacher.py dataset=synthetic pair=r50_r18"""

from graphkd.apps.cli import train_teacher_main

if __name__ == "__main__":
    train_teacher_main()
