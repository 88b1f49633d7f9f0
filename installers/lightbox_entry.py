"""Entry script of the frozen Lightbox application (PyInstaller runs this file)."""

from __future__ import annotations

import multiprocessing
import sys

from viewer.__main__ import main

if __name__ == "__main__":
    # A frozen executable re-enters here for every worker process a pool starts.
    multiprocessing.freeze_support()
    sys.exit(main())
