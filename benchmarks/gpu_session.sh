#!/bin/bash
# What a lease of the team's GPU machine checks, as one call of the device tool (never CI):
# benchmarks/cifar10_gpu.py on the current tree (and on a baseline tree, side by side, when
# one is given), then the whole test suite on the GPU.
#
# Prepare in the repository root (the GPU machine reaches no package index):
#   printf '/.whl/\n/.data/\n' >> .git/info/exclude
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#       -d .whl skorch==1.4.0 scikit-learn==1.9.1
#   mkdir -p .data && cp ../shared/datasets/cifar10-jpeg.tar.gz .data/
#   # optional: a baseline revision, measured on the same machine between two runs of HEAD
#   mkdir -p .data/baseline && git archive REV sk_cnn benchmarks | tar -x -C .data/baseline
# then run "bash benchmarks/gpu_session.sh" with carry [".whl", ".data"] and timeout_s 560
# (about 7 minutes with a baseline, 5 without).
#
# Logs land in $OUT: gpu_<tree>.log per benchmark run and tests.log (pytest -v, so the names
# of failing tests are there even when the time limit cuts the run short).
set -u
OUT=${OUT:-/tmp/sk_cnn_gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONUNBUFFERED=1 SK_CNN_CIFAR10=${SK_CNN_CIFAR10:-$PWD/.data/cifar10-jpeg.tar.gz}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader

bench() {  # $1: the tree (its own sk_cnn and benchmarks), $2: the log's name
    (cd "$1/benchmarks" && PYTHONPATH="$1:/tmp/site" timeout 150 python3 cifar10_gpu.py --runs 3) \
        2>&1 | tee "$OUT/gpu_$2.log"
}

bench "$PWD" head
if [ -d .data/baseline ]; then
    bench "$PWD/.data/baseline" baseline
    bench "$PWD" head_again
fi
PYTHONPATH="$PWD:/tmp/site" timeout 240 python3 -m pytest -n 12 -v -p no:cacheprovider \
    -p no:benchmark > "$OUT/tests.log" 2>&1
grep -E "FAILED|ERROR" "$OUT/tests.log" | head -40
tail -3 "$OUT/tests.log"
