"""Run ``plait serve`` under cProfile: ``python bench/api_profile.py OUT.prof serve --port P``.

``python -m cProfile`` loses the profile here: uvicorn re-raises the SIGTERM it caught once it
has shut down, and the default handler kills the process before cProfile writes its file. A
SIGTERM handler that raises SystemExit, installed before uvicorn saves and later restores it,
turns that re-raise into a normal exit, so the statistics are written.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGTERM, _exit)
    from plait.cli import main as plait_main

    profiler = cProfile.Profile()
    try:
        profiler.runcall(plait_main, args, prog_name="plait")
    except SystemExit:
        pass
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
