"""Shared fixtures: where the repository and the `bylaw` command line are."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
SCENARIO = REPO / "bench" / "scenario"


def _cli() -> Path:
    given = os.environ.get("BYLAW_BIN")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        candidate = target / profile / "bylaw"
        if candidate.exists():
            return candidate
    found = shutil.which("bylaw")
    if found:
        return Path(found)
    pytest.skip("no `bylaw` binary: run `cargo build` first or set BYLAW_BIN")


@pytest.fixture(scope="session")
def cli() -> Path:
    return _cli()


@pytest.fixture(scope="session")
def eval_cli(cli):
    """`bylaw eval POLICY --requests -` over JSON lines: one decision dict per line."""
    import json

    def run(policy: Path, lines: list) -> list:
        out = subprocess.run(
            [str(cli), "eval", str(policy), "--requests", "-"],
            input="".join(line.rstrip("\n") + "\n" for line in lines),
            capture_output=True,
            text=True,
            check=True,
        )
        return [json.loads(line) for line in out.stdout.splitlines()]

    return run
