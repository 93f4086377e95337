"""Policy.decide from a Python dict against the Python packages of Cedar and CEL, on
the benchmark scenario (bench/scenario: 20 rules, 10,000 requests).

    pip install ./bindings/python -r bindings/python/bench/requirements.txt
    python bindings/python/bench/bench.py [--rounds 7]

Each engine gets the requests in its own native form, built before timing (as in
bench/scenario/README.md); every decision is checked against the scenario's expected
answer first. Rounds are interleaved (every engine once per round) and the table shows
the median round, in ns per decision, and each engine as a multiple of Bylaw's time.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import bylaw

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "bench" / "scenario"


def scenario():
    requests, expected = [], []
    for line in (SCENARIO / "requests.jsonl").read_text().splitlines():
        request = json.loads(line)
        expected.append(request.pop("expected"))
        requests.append(request)
    return requests, expected


def with_literal_keys(request):
    """The dict as code that builds it from literals has it: keys are interned."""
    return {sys.intern(k): v for k, v in request.items()}


def bylaw_engine(requests):
    policy = bylaw.load(SCENARIO / "guard.bylaw")
    native = [with_literal_keys(r) for r in requests]

    def one_by_one():
        return [policy.decide(r).outcome for r in native]

    def batch():
        return [d.outcome for d in policy.decide_many(native)]

    return {"bylaw Policy.decide(dict)": one_by_one, "bylaw Policy.decide_many(dicts)": batch}


def cedar_engine(requests):
    import cedarpy

    policies = cedarpy.PolicySet.from_str((SCENARIO / "guard.cedar").read_text()) if hasattr(
        cedarpy, "PolicySet"
    ) else (SCENARIO / "guard.cedar").read_text()
    entities = cedarpy.Entities.from_json_str("[]") if hasattr(cedarpy, "Entities") else []

    def context(r):
        c = dict(r)
        c["toxicity_score"] = round(r["toxicity_score"] * 1000)
        c["jailbreak_score"] = round(r["jailbreak_score"] * 1000)
        return c

    native = [
        {
            "principal": 'User::"caller"',
            "action": 'Action::"call"',
            "resource": 'Service::"assistant"',
            "context": context(r),
        }
        for r in requests
    ]
    allow = cedarpy.Decision.Allow

    def run():
        return [
            "allow" if cedarpy.is_authorized(r, policies, entities).decision == allow else "deny"
            for r in native
        ]

    return {"cedarpy is_authorized (PolicySet, Entities handles)": run}


def cel_engine(requests):
    import cel

    program = cel.compile((SCENARIO / "guard.cel").read_text())
    native = [with_literal_keys(r) for r in requests]

    def run():
        return ["allow" if program.execute(r) else "deny" for r in native]

    return {"common-expression-language Program.execute": run}


def celpy_engine(requests):
    import celpy

    env = celpy.Environment()
    program = env.program(env.compile((SCENARIO / "guard.cel").read_text()))
    native = [{k: celpy.json_to_cel(v) for k, v in r.items()} for r in requests]

    def run():
        return ["allow" if program.evaluate(r) else "deny" for r in native]

    return {"cel-python Runner.evaluate": run}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slow-requests", type=int, default=500,
                        help="requests per round for cel-python (pure Python, ~1000x slower)")
    args = parser.parse_args()
    requests, expected = scenario()
    engines = {}
    engines.update(bylaw_engine(requests))
    engines.update(cedar_engine(requests))
    engines.update(cel_engine(requests))
    slow = set()
    celpy_runs = celpy_engine(requests[: args.slow_requests])
    engines.update(celpy_runs)
    slow.update(celpy_runs)

    for name, run in engines.items():
        want = expected[: args.slow_requests] if name in slow else expected
        got = run()
        wrong = sum(1 for g, w in zip(got, want) if g != w)
        if wrong or len(got) != len(want):
            raise SystemExit(f"{name}: {wrong} of {len(want)} decisions differ from the scenario's")

    times = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, run in engines.items():
            count = args.slow_requests if name in slow else len(requests)
            start = time.perf_counter_ns()
            run()
            times[name].append((time.perf_counter_ns() - start) / count)

    base = statistics.median(times["bylaw Policy.decide(dict)"])
    print(f"python {platform.python_version()}, {platform.machine()}, {args.rounds} rounds, "
          f"{len(requests)} requests ({args.slow_requests} for cel-python); median ns per decision")
    print()
    print("| engine | ns per decision | × Bylaw |")
    print("| --- | ---: | ---: |")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {median:,.0f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
