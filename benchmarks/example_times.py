"""Wall-clock seconds of each ``examples/plot_*.py`` run as a user runs it (data loading,
fitting and plotting included), on CIFAR-10 subsets: read from the shared archive when it is
present (``SK_CNN_CIFAR10``), else downloaded by the examples as a user's are
(``SK_CNN_EXAMPLE_DATA=digits`` runs them on digits instead).

Run: ``cd benchmarks && PYTHONPATH=.. python example_times.py`` (about a minute and a half).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpeg.tar.gz"


def main():
    with tempfile.TemporaryDirectory() as output:
        env = {**os.environ, "SK_CNN_EXAMPLE_OUTPUT": output}
        if ARCHIVE.is_file():
            env.setdefault("SK_CNN_CIFAR10", str(ARCHIVE))
        for script in sorted(EXAMPLES.glob("plot_*.py")):
            start = time.perf_counter()
            result = subprocess.run([sys.executable, str(script)], env=env, cwd=output,
                                    capture_output=True, text=True)
            seconds = time.perf_counter() - start
            data = result.stdout.splitlines()[0] if result.stdout else ""
            print(f"{script.name}: {seconds:.1f} s, exit status {result.returncode} ({data})",
                  flush=True)


if __name__ == "__main__":
    main()
