"""Import times: ``import torch``, ``import sk_cnn``, ``sk-cnn --help`` and
``from sk_cnn import CNNClassifier``, side by side.

Each is timed in a fresh interpreter (``python -c ...``), wall clock from the start of the
process to its end, so Python's own start-up is in every figure (the first row measures it
alone). The statements run in ``--rounds`` interleaved rounds, after one warm-up round that
fills the file system cache; the table gives the median of the rounds. Other checkouts of
sk_cnn (an older version, say: ``git archive v0.1.0 sk_cnn | tar -x -C /tmp/old``) get a
column each, measured in the same rounds. Run:
``cd benchmarks && python import_time.py [OTHER_CHECKOUT ...]`` (about 3 minutes per checkout
on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

STATEMENTS = {
    "python (start-up only)": "pass",
    "import torch": "import torch",
    "import sklearn.base": "import sklearn.base",
    "import sk_cnn": "import sk_cnn",
    "sk-cnn --help": "import sys; from sk_cnn.cli import main; sys.argv = ['sk-cnn', '--help']; "
                     "main()",
    "sk-cnn train --help": "import sys; from sk_cnn.cli import main; "
                           "sys.argv = ['sk-cnn', 'train', '--help']; main()",
    "from sk_cnn import CNNClassifier": "from sk_cnn import CNNClassifier",
}


def _seconds(statement: str, checkout: Path) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout),
                                                        os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, metavar="OTHER_CHECKOUT",
                        help="folders holding another sk_cnn package to time beside this one")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default: 5)")
    args = parser.parse_args()
    checkouts = [REPO, *args.checkouts]
    for checkout in checkouts:
        if not (checkout / "sk_cnn" / "__init__.py").is_file():
            parser.error(f"{checkout} holds no sk_cnn package (sk_cnn/__init__.py).")
    for checkout in checkouts:  # warm-up: the file system cache
        for statement in STATEMENTS.values():
            _seconds(statement, checkout)
    times = {(name, checkout): [] for name in STATEMENTS for checkout in checkouts}
    for _ in range(args.rounds):
        for name, statement in STATEMENTS.items():
            for checkout in checkouts:
                times[name, checkout].append(_seconds(statement, checkout))
    print(f"{os.cpu_count()} CPU cores, Python {sys.version.split()[0]}; median of "
          f"{args.rounds} rounds in seconds, a fresh interpreter each\n")
    names = ["this checkout", *(str(c) for c in args.checkouts)]
    print(f"| {'what':34} | " + " | ".join(names) + " |")
    print(f"| {'-' * 34} | " + " | ".join("-" * len(n) for n in names) + " |")
    for name in STATEMENTS:
        cells = [f"{statistics.median(times[name, c]):{len(n)}.2f}"
                 for c, n in zip(checkouts, names)]
        print(f"| {'`' + name + '`':34} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
