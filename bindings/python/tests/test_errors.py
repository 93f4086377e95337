"""A policy that does not compile raises PolicyError with every diagnostic; a bad
request is denied with every bad field named, as `bylaw eval` names them."""

import json
import subprocess

import bylaw
import pytest

from conftest import EXAMPLES

BROKEN = """policy broken version "1.0.0"

schema request {
  user.age: int
}

deny when user.agee < 14 because "minors"
deny when user.age > "x"
"""


def test_a_policy_with_errors_raises_policy_error_with_every_diagnostic():
    with pytest.raises(bylaw.PolicyError) as raised:
        bylaw.compile(BROKEN, name="broken.bylaw")
    error = raised.value
    assert isinstance(error, ValueError)
    codes = [d.code for d in error.diagnostics]
    assert len(codes) == 2, codes
    first = error.diagnostics[0]
    assert first.severity == "error"
    assert first.file == "broken.bylaw"
    assert (first.line, first.column) == (7, 11)
    assert "user.agee" in first.message
    assert first.help and "user.age" in first.help
    second = error.diagnostics[1]
    assert second.line == 8
    assert str(error).startswith("broken.bylaw:7:11: ")
    assert "(and 1 more errors)" in str(error)
    assert "broken.bylaw:7:11" in error.rendered
    assert "user.agee" in error.rendered


def test_the_rendered_text_is_what_bylaw_check_prints(cli, tmp_path):
    path = tmp_path / "broken.bylaw"
    path.write_text(BROKEN)
    out = subprocess.run([str(cli), "check", str(path)], capture_output=True, text=True)
    assert out.returncode == 1
    with pytest.raises(bylaw.PolicyError) as raised:
        bylaw.load(path)
    assert raised.value.rendered.strip() in out.stderr + out.stdout


def test_an_empty_source_is_not_a_policy():
    with pytest.raises(bylaw.PolicyError) as raised:
        bylaw.compile("")
    assert [d.code for d in raised.value.diagnostics] == ["E0122"]


def test_an_unknown_stdlib_module_is_a_policy_error():
    with pytest.raises(bylaw.PolicyError) as raised:
        bylaw.compile('policy p version "1.0.0"\nuse std::nowhere\n')
    assert "nowhere" in raised.value.diagnostics[0].message


def test_stdlib_modules_resolve():
    policy = bylaw.load(EXAMPLES / "eu_assistant.bylaw")
    assert policy.name == "eu_assistant"


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError, match="cannot read"):
        bylaw.load(tmp_path / "nope.bylaw")


def test_an_unknown_engine_is_a_value_error():
    with pytest.raises(ValueError, match="engine"):
        bylaw.load(EXAMPLES / "minimal.bylaw", engine="fast")


def test_warnings_are_kept_on_a_policy_that_compiles():
    policy = bylaw.compile(
        'policy w version "1.0.0"\nschema request { a: int }\ndeny when has(a) and a > 1 because \"big\"\n'
    )
    (warning,) = policy.warnings
    assert warning.severity == "warning"
    assert "always true" in warning.message
    assert (warning.line, warning.column) == (3, 11)


MINIMAL = EXAMPLES / "minimal.bylaw"


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"scores": {"toxicity": "high"}},
        {"scores": {"toxicity": None}},
        {"scores": {"toxicity": True}},
        {"scores": 3},
        {"scores": None},
        {"scores": {"toxicity": [0.1]}},
        {"scores": {"toxicity": {"value": 0.1}}},
        {"scores": {"toxicity": 10**30}},
        {"scores": {"toxicity": 2**63}},
    ],
    ids=repr,
)
def test_a_bad_request_is_denied_naming_the_field_as_bylaw_eval_does(request_, eval_cli):
    policy = bylaw.load(MINIMAL)
    decision = policy.decide(request_)
    (want,) = eval_cli(MINIMAL, [json.dumps(request_)])
    assert decision.to_dict() == want
    assert policy.check_request(request_) == want.get("errors", [])


def test_a_valid_request_has_no_errors():
    policy = bylaw.load(MINIMAL)
    assert policy.check_request({"scores": {"toxicity": 0.2}}) == []
    assert policy.decide({"scores": {"toxicity": 0.93}}).outcome == "deny"
    assert policy.decide({"scores": {"toxicity": 0.2}}).outcome == "allow"


def test_python_values_that_json_cannot_spell_are_refused_not_guessed():
    policy = bylaw.load(MINIMAL)
    nan = policy.decide({"scores": {"toxicity": float("nan")}})
    assert nan.outcome == "deny"
    assert nan.errors == [{"field": "scores.toxicity", "message": "expected a finite number, found NaN"}]
    inf = policy.decide({"scores": {"toxicity": float("inf")}})
    assert inf.outcome == "deny" and inf.errors[0]["field"] == "scores.toxicity"


def test_a_request_that_is_not_a_mapping_or_json_text_is_denied():
    policy = bylaw.load(MINIMAL)
    for value in ([1, 2], 42, None, object()):
        decision = policy.decide(value)
        assert decision.outcome == "deny"
        assert decision.errors[0]["field"] == ""
        assert "must be a dict" in decision.errors[0]["message"]


def test_json_text_that_is_not_json_is_denied_as_bylaw_eval_denies_it(eval_cli):
    policy = bylaw.load(MINIMAL)
    (want,) = eval_cli(MINIMAL, ["{not json"])
    got = policy.decide("{not json").to_dict()
    assert got["outcome"] == want["outcome"] == "deny"
    assert got["errors"][0]["field"] == want["errors"][0]["field"] == ""


def test_sets_take_lists_tuples_and_sets():
    policy = bylaw.load(EXAMPLES / "genai_chat.bylaw")
    base = json.loads((EXAMPLES / "requests" / "chat_eu_medical.json").read_text())
    want = policy.decide(base).to_dict()
    for tags in (("triage",), {"triage"}, frozenset({"triage"})):
        assert policy.decide({**base, "tags": tags}).to_dict() == want
    assert policy.decide({**base, "tags": [1]}).errors == [
        {"field": "tags", "message": "expected an array of strings, found an integer"}
    ]
