#!/usr/bin/env bash
# The project's test command: README.md, .ci/run and the GitHub workflow all run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== 1. the package, README and notebooks are what the notebooks generate"
nbdev_export
nbdev_clean
bash tools/readme.sh
changed=$(git status --porcelain -- evo_attention nbs README.md)
if [ -n "$changed" ]; then
  echo "nbdev_export / nbdev_clean / tools/readme.sh changed files; run them and commit:"
  echo "$changed"; git --no-pager diff --stat -- evo_attention nbs README.md
  exit 1
fi

echo "== 2. notebook tests (nbdev_test; flags skipped: notest slow gpu)"
nbdev_test --n_workers "${NBDEV_WORKERS:-2}"

echo "== 3. pytest"
python -m pytest -q tests "$@"
