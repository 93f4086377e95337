"""Decisions from Python are exactly the decisions `bylaw eval` prints."""

import json
import subprocess

import bylaw
import pytest

from conftest import EXAMPLES, SCENARIO

POLICIES = sorted(EXAMPLES.glob("*.bylaw"))
REQUESTS = sorted((EXAMPLES / "requests").glob("*.json"))


def request_lines():
    """Every example request, as one JSON line each."""
    return [json.dumps(json.loads(path.read_text())) for path in REQUESTS]


def test_the_examples_are_there():
    assert len(POLICIES) >= 6
    assert len(REQUESTS) >= 2


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_example_request_is_decided_as_bylaw_eval_decides_it(path, eval_cli):
    policy = bylaw.load(path)
    lines = request_lines()
    expected = eval_cli(path, lines)
    for line, want in zip(lines, expected):
        assert policy.decide(json.loads(line)).to_dict() == want
        assert policy.decide(line).to_dict() == want
        assert policy.decide(line.encode()).to_dict() == want


def scenario_requests(limit):
    lines = (SCENARIO / "requests.jsonl").read_text().splitlines()[:limit]
    requests = []
    for line in lines:
        request = json.loads(line)
        expected = request.pop("expected")
        requests.append((request, expected))
    return requests


def test_the_scenario_requests_are_decided_as_bylaw_eval_and_the_scenario_say(eval_cli):
    path = SCENARIO / "guard.bylaw"
    policy = bylaw.load(path)
    requests = scenario_requests(2000)
    lines = [json.dumps(r) for r, _ in requests]
    from_cli = eval_cli(path, lines)
    decided = policy.decide_many([r for r, _ in requests])
    assert len(decided) == len(requests)
    for (request, expected), one, want in zip(requests, decided, from_cli):
        assert one.outcome == expected
        assert one.to_dict() == want
        assert policy.decide(request).to_dict() == want


def test_the_interpreter_and_the_jit_agree():
    jit = bylaw.load(SCENARIO / "guard.bylaw")
    interpreted = bylaw.load(SCENARIO / "guard.bylaw", engine="interpreter")
    assert (jit.engine, interpreted.engine) == ("jit", "interpreter")
    for request, _ in scenario_requests(500):
        assert jit.decide(request).to_dict() == interpreted.decide(request).to_dict()


def test_a_decision_reads_as_its_parts():
    policy = bylaw.load(EXAMPLES / "genai_chat.bylaw")
    request = json.loads((EXAMPLES / "requests" / "chat_eu_medical.json").read_text())
    decision = policy.decide(request)
    assert decision.outcome == "escalate"
    assert not decision.allowed
    assert decision.tier == "high"
    assert [d.id for d in decision.duties] == ["human_oversight", "keep_logs", "disclose_ai"]
    oversight = decision.duties[0]
    assert not oversight.met and oversight.cite == ["EU AI Act Art. 14"]
    assert decision.duties[1].retain_seconds == 180 * 24 * 3600
    assert decision.duties[2].notices == ["You are interacting with an AI system."]
    reasons = decision.reasons
    assert [(r.kind, r.id) for r in reasons] == [("tier", "high"), ("duty", "human_oversight")]
    assert reasons[1].outcome == "escalate"
    assert reasons[1].message == "a human reviewer must be assigned"
    assert reasons[1].cite == "EU AI Act Art. 14"
    assert (reasons[1].line, reasons[1].column) == (50, 3)
    assert decision.errors == []
    assert decision.service is None
    assert json.loads(decision.to_json()) == decision.to_dict()
    assert "outcome: escalate" in decision.explain()
    assert repr(decision) == "<Decision escalate tier=high>"


def test_degraded_decides_as_the_cli_flag_does(cli):
    import subprocess

    path = EXAMPLES / "api_gateway.bylaw"
    policy = bylaw.load(path)
    fixture = policy_fixture_request(policy)
    out = subprocess.run(
        [str(cli), "eval", str(path), "--request", "-", "--degraded"],
        input=json.dumps(fixture),
        capture_output=True,
        text=True,
        check=True,
    )
    assert policy.decide(fixture, degraded=True).to_dict() == json.loads(out.stdout)
    assert policy.decide(fixture, degraded=True).to_dict() != policy.decide(fixture).to_dict()


def policy_fixture_request(policy):
    """api_gateway.bylaw's team tenant with an abuse score it escalates only while its
    service is degraded."""
    assert policy.name == "api_gateway"
    return {
        "id": "g-1",
        "service": "llm_api",
        "tenant": {
            "id": "acme",
            "plan": "team",
            "region": "EU",
            "balance_cents": 12000,
            "verified": True,
        },
        "usage": {"tokens_today": 5000},
        "call": {"tokens": 800, "purpose": "chat", "features": ["chat"], "org_unit": "support"},
        "scores": {"abuse": 0.6, "pii": 0.0},
        "flags": [],
    }


def test_load_follows_user_modules_and_compile_refuses_relative_ones():
    workspace = EXAMPLES.parent / "tests" / "data" / "modules" / "workspace"
    policy = bylaw.load(workspace / "search.bylaw")
    request = {
        "service": "search",
        "prompt": {"jailbreak_score": 0.85, "toxicity": 0.0},
    }
    decision = policy.decide(request)
    assert decision.outcome == "deny"
    assert decision.reasons[0].id == "acme::safety::jailbreak::jailbreak_attempt"
    source = (workspace / "chat.bylaw").read_text()
    with pytest.raises(bylaw.PolicyError) as raised:
        bylaw.compile(source)
    assert "unknown module `acme::safety::jailbreak`" in str(raised.value)
    assert "was not read from a file" in raised.value.rendered


def test_a_signed_bundle_loads_and_decides_as_its_source(tmp_path, cli):
    workspace = EXAMPLES.parent / "tests" / "data" / "modules" / "workspace"
    source = workspace / "search.bylaw"
    key = tmp_path / "acme"
    subprocess.run([str(cli), "keygen", "-o", str(key)], check=True, capture_output=True)
    bundle = tmp_path / "search.bundle"
    subprocess.run(
        [str(cli), "bundle", str(source), "-o", str(bundle), "--sign", str(key) + ".key"],
        check=True,
        capture_output=True,
    )
    request = {"service": "s", "prompt": {"jailbreak_score": 0.85, "toxicity": 0.0}}
    from_source = bylaw.load(source).decide(request).to_dict()
    assert bylaw.load(bundle).decide(request).to_dict() == from_source
    verified = bylaw.load(bundle, verify_key=str(key) + ".pub")
    assert verified.decide(request).to_dict() == from_source
    # A changed byte is refused, with the reason.
    tampered = tmp_path / "tampered.bundle"
    tampered.write_bytes(bundle.read_bytes().replace(b"jailbreak_attempt", b"Jailbreak_attempt", 1))
    with pytest.raises(ValueError) as raised:
        bylaw.load(tampered, verify_key=str(key) + ".pub")
    assert "bundle" in str(raised.value)
