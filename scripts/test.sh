#!/usr/bin/env bash
# Install rcm with its test tools and run the whole test suite.
# As root on Debian/Ubuntu this also installs Chromium, which the browser test of the
# HTML report needs (that one test is skipped without it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "could not install Chromium: the browser test of the report will be skipped" >&2
fi
pip install -e '.[dev]'
python -m pytest "$@"
