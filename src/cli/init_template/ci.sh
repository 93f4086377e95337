#!/bin/sh
# Run in CI (and before every commit): every policy checks, lints clean and passes its tests.
set -eu
cd "$(dirname "$0")"
bylaw check . && bylaw lint . && bylaw test .
