"""The Chromium that the browser tests, the benchmarks and the screenshots drive, and its flags.

Imported as `chromium` with tools/ on the path (tools/ holds scripts, not a package).
"""

from __future__ import annotations

import os

#: Debian's Chromium unless `$CHROMIUM` names another.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: Flags measured to work here (shared/FACTS.md): without the background-networking ones
#: Chromium keeps dialling hosts that this closed network refuses.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
