"""`python -m bench.profiling PROFILE GC_JSON MODULE [ARGS...]`: run `python -m MODULE ARGS`
under cProfile and time the garbage collector's pauses (cProfile cannot see them: it charges
each pause to whichever function happened to allocate).

Writes the cProfile statistics to PROFILE and {"collections": [gen0, gen1, gen2], "seconds":
[...]} to GC_JSON when the module exits (SIGTERM included, as the validator exits cleanly).
"""

from __future__ import annotations

import cProfile
import gc
import json
import runpy
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class GcTimer:
    """Counts collections and sums their durations, per generation."""

    def __init__(self) -> None:
        """Nothing is recorded before `install`."""
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks protocol."""
        if phase == "start":
            self._started = time.perf_counter()
            return
        generation = int(info["generation"])
        self.collections[generation] += 1
        self.seconds[generation] += time.perf_counter() - self._started

    def install(self) -> None:
        """Start timing."""
        gc.callbacks.append(self)

    def as_dict(self) -> dict[str, list[int] | list[float]]:
        """JSON-ready form."""
        return {"collections": self.collections, "seconds": self.seconds}


def main(argv: Sequence[str]) -> int:
    """Run the module; return its exit status."""
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    profile_path, gc_path, module, *arguments = argv
    timer = GcTimer()
    timer.install()
    profiler = cProfile.Profile()
    sys.argv = [module, *arguments]
    status: int = 0
    try:
        profiler.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        profiler.dump_stats(profile_path)
        Path(gc_path).write_text(json.dumps(timer.as_dict()))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
