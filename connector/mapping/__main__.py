"""``python -m connector.mapping check [DIR] [--loinc-dir DIR]``: the mapping lint (exit 1 on errors)."""

from .check import main

raise SystemExit(main())
