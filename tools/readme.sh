#!/usr/bin/env bash
# README.md is generated from nbs/index.ipynb (nbdev_readme needs Quarto, which CI machines lack).
set -euo pipefail
cd "$(dirname "$0")/.."
jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README \
  --RegexRemovePreprocessor.patterns='["^#\\| hide"]' --log-level=WARN
