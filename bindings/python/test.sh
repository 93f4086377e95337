#!/usr/bin/env bash
# The Python package's test suite: builds the package (maturin, through pip) into a
# virtual environment under the cargo target folder, installs what the tests need,
# and runs pytest. The tests compare decisions with the `bylaw` command line, so the
# CLI is built first (`cargo test` has usually built it already).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/python-venv"

cargo build --locked --quiet --manifest-path "$repo/Cargo.toml" --bin bylaw
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$here/requirements-test.txt"
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$here"

export BYLAW_BIN="$target/debug/bylaw"
export LITELLM_LOCAL_MODEL_COST_MAP=True
cd "$here"
exec "$venv/bin/python" -m pytest tests -p no:cacheprovider -W ignore::UserWarning -W ignore::DeprecationWarning
