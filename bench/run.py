"""`make bench`: every benchmark, then bench/results/<UTC date>.json and docs/benchmarks.md.

Run from the repository root as `python bench/run.py [options]` (or `python -m bench.run`);
`--help` lists the options. The work is in bench/main.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # As a script, Python puts bench/ on the path, not the root that holds the package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.main import main

    sys.exit(main())
