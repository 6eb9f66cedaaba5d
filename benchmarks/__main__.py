"""Run every benchmark, or the ones named: `python -m benchmarks [events slam ...]`.

Each benchmark runs in its own process (a clean interpreter, so one benchmark's threads and
caches do not colour the next one's timings) and prints its own table of measured value,
target and baseline. The exit code is the number of benchmarks that failed to run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
NAMES = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    chosen = argv or NAMES
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {NAMES}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== benchmarks.bench_{name} ===", flush=True)
        rc = subprocess.call([sys.executable, "-m", f"benchmarks.bench_{name}"], cwd=HERE.parent)
        if rc != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that failed to run: {failed}", file=sys.stderr)
    return len(failed)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
