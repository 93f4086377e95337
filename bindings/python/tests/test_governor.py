"""The stateful runtime from Python: a trigger suspends a service, the state file
keeps it across a restart, operators resume and approve it."""

import json
from datetime import datetime, timedelta, timezone

import bylaw
import pytest

from conftest import EXAMPLES

START = datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc)


def chat_request(**scores):
    request = json.loads((EXAMPLES / "requests" / "chat_eu_medical.json").read_text())
    request["reviewer"] = {"assigned": True}
    request["scores"] = {"toxicity": 0.0, "jailbreak": 0.0, **scores}
    return request


def suspend_by_trigger(governor):
    """`jailbreak_wave`: 50 jailbreak attempts within 10 minutes suspend chat for 30m."""
    for i in range(50):
        decision = governor.decide(chat_request(jailbreak=0.95), now=START + timedelta(seconds=i))
        assert decision.outcome != "suspended"


def test_a_trigger_suspends_the_service_and_the_state_survives_a_restart(tmp_path):
    policy = bylaw.load(EXAMPLES / "genai_chat.bylaw")
    state = tmp_path / "state.redb"
    governor = bylaw.Governor(policy, state=state)
    ordinary = chat_request()
    assert governor.decide(ordinary, now=START).outcome == "allow"
    suspend_by_trigger(governor)

    later = START + timedelta(minutes=1)
    decision = governor.decide(ordinary, now=later)
    assert decision.outcome == "suspended"
    assert decision.service == {"name": "chat", "state": "suspended", "fallback": "faq_bot"}
    assert any(r.kind == "service" for r in decision.reasons)
    del governor

    restarted = bylaw.Governor(policy, state=str(state))
    after = restarted.decide(ordinary, now=later + timedelta(seconds=1))
    assert after.outcome == "suspended"
    assert after.service["fallback"] == "faq_bot"
    (chat,) = restarted.status(now=later)["services"]
    assert chat["name"] == "chat" and chat["fallback"] == "faq_bot"
    assert "suspended" in chat["label"]


def test_operators_suspend_resume_and_approve(tmp_path):
    policy = bylaw.load(EXAMPLES / "genai_chat.bylaw")
    governor = bylaw.Governor(policy, state=tmp_path / "state.redb")
    ordinary = chat_request()
    events = governor.suspend("chat", by="alice", reason="incident 7", now=START)
    assert events and all(isinstance(e, dict) for e in events)
    assert governor.decide(ordinary, now=START).outcome == "suspended"
    governor.resume("chat", by="alice", now=START + timedelta(minutes=1))
    # Recovery: a cooldown of 30m, then an approval by the safety officer, then a ramp.
    with pytest.raises(bylaw.GovernorError):
        governor.suspend("nowhere", by="alice", reason="x", now=START)
    governor.approve("chat", by="bob", role="safety-officer", now=START + timedelta(minutes=40))
    status = governor.status(now=START + timedelta(hours=2))
    (chat,) = status["services"]
    assert chat["state"]["state"] in ("active", "recovering")
    assert governor.decide(ordinary, now=START + timedelta(hours=2)).outcome == "allow"


def test_blocks_refuse_a_key_until_lifted():
    policy = bylaw.load(EXAMPLES / "api_gateway.bylaw")
    governor = bylaw.Governor(policy)
    from test_decisions import policy_fixture_request

    request = policy_fixture_request(policy)
    request["scores"]["abuse"] = 0.0
    assert governor.decide(request, now=START).outcome == "allow"
    governor.block("tenant.id", "acme", seconds=3600, cause="abuse report", now=START)
    blocked = governor.decide(request, now=START + timedelta(minutes=1))
    assert blocked.outcome == "deny"
    assert any(r.kind == "block" for r in blocked.reasons)
    governor.unblock("tenant.id", "acme", by="carol", now=START + timedelta(minutes=2))
    assert governor.decide(request, now=START + timedelta(minutes=3)).outcome == "allow"


def test_now_must_name_a_moment():
    governor = bylaw.Governor(bylaw.load(EXAMPLES / "genai_chat.bylaw"))
    with pytest.raises(ValueError, match="timezone-aware"):
        governor.decide(chat_request(), now=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        governor.decide(chat_request(), now="yesterday")
    assert governor.decide(chat_request(), now="2026-12-07T10:00:00+01:00").outcome == "allow"
    assert governor.decide(chat_request()).outcome == "allow"


def test_an_unreadable_state_file_is_a_governor_error(tmp_path):
    bad = tmp_path / "state.redb"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(bylaw.GovernorError):
        bylaw.Governor(bylaw.load(EXAMPLES / "genai_chat.bylaw"), state=bad)


def test_a_governors_decisions_carry_an_id_the_policy_and_the_time():
    import uuid

    policy = bylaw.load(EXAMPLES / "genai_chat.bylaw")
    governor = bylaw.Governor(policy)
    ids = set()
    for i in range(200):
        decision = governor.decide(chat_request(), now=START + timedelta(seconds=i))
        as_dict = decision.to_dict()
        assert decision.decision_id == as_dict["decision_id"]
        assert uuid.UUID(decision.decision_id).version == 7
        ids.add(decision.decision_id)
        assert as_dict["policy"]["name"] == "genai_chat"
        assert len(as_dict["policy"]["fingerprint"]) == 64
    assert len(ids) == 200
    assert decision.at == "2026-12-07T10:03:19Z"
    invalid = governor.decide({}, now=START)
    assert invalid.outcome == "deny" and invalid.decision_id is not None
    # A bare policy's decision is a pure function of the request: no id, no time.
    pure = policy.decide(chat_request())
    assert pure.decision_id is None and pure.at is None
    assert "decision_id" not in pure.to_dict()
