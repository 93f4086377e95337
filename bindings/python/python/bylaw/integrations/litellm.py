"""A LiteLLM guardrail that decides every call with a Bylaw policy.

Before the call (``pre_call``) the OpenAI-style request is mapped onto the policy's
request schema and decided; after it (``post_call``) the answer is decided again with
``output.text`` when the schema has that field. Then:

* ``allow`` — the call goes ahead unchanged;
* ``deny`` — the call is blocked: ``GuardrailRaisedException`` (HTTP 400 on the proxy)
  with the policy's reasons and citations;
* ``escalate`` — blocked the same way, unless ``on_escalate="allow"``;
* ``suspended`` (a ``Governor`` whose service is suspended or ramping) — the model is
  not called: the user gets the service's fallback as the answer
  (``ModifyResponseException``, which the proxy returns as a 200 response).

The mapping (``request_from_call``) fills only fields the schema declares:

==================  ===========================================================
``id``              the call's ``litellm_call_id``
``service``         the guardrail's ``service`` argument
``model.id``        ``model``
``user.id``         ``user`` (the OpenAI ``user`` parameter)
``prompt.text``     the text of the last user message
``output.text``     the text of the first choice (post-call only)
anything else       ``metadata["bylaw"]``: a dict of the policy's fields, nested
                    (``{"user": {"age": 15}}``) or dotted (``{"user.age": 15}``) —
                    region, age, scores from upstream classifiers…
==================  ===========================================================

Fields the call does not give are left out, so schema defaults apply and a required
field that nothing supplies makes the call invalid — and an invalid call is denied.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

from litellm.exceptions import GuardrailRaisedException
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.types.guardrails import GuardrailEventHooks

import bylaw

__all__ = ["BylawGuardrail", "request_from_call"]

Mapper = Callable[[Mapping[str, Any], Optional[Any], Optional[str]], Dict[str, Any]]


def _message_text(message: Any) -> str:
    """The text of a chat message: a string, or the text parts of a content list."""
    content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", None)
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
        return "\n".join(parts)
    return ""


def _last_user_text(messages: Any) -> Optional[str]:
    if not isinstance(messages, Sequence):
        return None
    for message in reversed(messages):
        role = message.get("role") if isinstance(message, Mapping) else getattr(message, "role", None)
        if role == "user":
            return _message_text(message)
    return None


def _response_text(response: Any) -> Optional[str]:
    choices = getattr(response, "choices", None)
    if not choices:
        return None
    message = getattr(choices[0], "message", None)
    if message is None:
        return None
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else None


def _flatten(values: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> Dict[str, Any]:
    nested: Dict[str, Any] = {}
    for path, value in flat.items():
        *parents, leaf = path.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def request_from_call(
    data: Mapping[str, Any],
    response: Optional[Any] = None,
    service: Optional[str] = None,
    *,
    fields: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """The policy request for one LiteLLM call (see the module's table). With
    ``fields`` (``Policy.fields``), only those paths are kept."""
    candidates: Dict[str, Any] = {
        "id": data.get("litellm_call_id"),
        "service": service,
        "model.id": data.get("model"),
        "user.id": data.get("user"),
        "prompt.text": _last_user_text(data.get("messages")),
    }
    if response is not None:
        candidates["output.text"] = _response_text(response)
    metadata = data.get("metadata") or {}
    given = metadata.get("bylaw") if isinstance(metadata, Mapping) else None
    if isinstance(given, Mapping):
        candidates.update(_flatten(given))
    kept = {k: v for k, v in candidates.items() if v is not None}
    if fields is not None:
        known = set(fields)
        kept = {k: v for k, v in kept.items() if k in known}
    return _nest(kept)


def _explain(decision: bylaw.Decision) -> str:
    if decision.errors:
        bad = "; ".join(f"`{e['field']}`: {e['message']}" for e in decision.errors)
        return f"the call cannot be judged: {bad}"
    reasons = []
    for reason in decision.reasons:
        if reason.kind == "tier":
            continue
        text = reason.message
        if reason.cite:
            text += f" ({reason.cite})"
        reasons.append(text)
    return "; ".join(reasons) or f"the policy decided {decision.outcome}"


class BylawGuardrail(CustomGuardrail):
    """Decides LiteLLM calls with a Bylaw policy, or a ``Governor`` for the
    stateful runtime (triggers, suspension with fallback, blocks, audit).

    Arguments:
        policy: a ``bylaw.Policy``, or the path of a policy file.
        governor: a ``bylaw.Governor`` deciding instead of the bare policy.
        service: the value of the ``service`` field (the policy's ``service`` name).
        on_escalate: ``"block"`` (the default) or ``"allow"``.
        fallbacks: the answer to give for each fallback name when the service is
            suspended (default: a sentence naming the fallback).
        mapper: replaces ``request_from_call``: ``(data, response, service) -> dict``.

    Other keyword arguments go to LiteLLM's ``CustomGuardrail`` (``guardrail_name``,
    ``event_hook``, ``default_on``…); the default runs on ``pre_call`` and
    ``post_call``.
    """

    # Our own pre- and post-call hooks decide; LiteLLM's unified text interface is
    # not used.
    use_native_lifecycle_hooks = True

    def __init__(
        self,
        policy: Union["bylaw.Policy", str, None] = None,
        *,
        governor: Optional["bylaw.Governor"] = None,
        service: Optional[str] = None,
        on_escalate: str = "block",
        fallbacks: Optional[Mapping[str, str]] = None,
        mapper: Optional[Mapper] = None,
        guardrail_name: str = "bylaw",
        event_hook: Any = None,
        default_on: bool = True,
        **kwargs: Any,
    ) -> None:
        if governor is not None:
            policy = governor.policy
        elif isinstance(policy, str):
            policy = bylaw.load(policy)
        if policy is None:
            raise ValueError("BylawGuardrail needs a policy (or a governor)")
        if on_escalate not in ("block", "allow"):
            raise ValueError('on_escalate is "block" or "allow"')
        self.policy: bylaw.Policy = policy
        self.governor = governor
        self.service = service
        self.on_escalate = on_escalate
        self.fallbacks = dict(fallbacks or {})
        self.mapper = mapper
        self._fields = policy.fields
        hooks = event_hook or [GuardrailEventHooks.pre_call, GuardrailEventHooks.post_call]
        super().__init__(guardrail_name=guardrail_name, event_hook=hooks, default_on=default_on, **kwargs)

    def request_for(self, data: Mapping[str, Any], response: Optional[Any] = None) -> Dict[str, Any]:
        """The policy request for a call (and its answer, after the call)."""
        if self.mapper is not None:
            return self.mapper(data, response, self.service)
        return request_from_call(data, response, self.service, fields=self._fields)

    def decide(self, data: Mapping[str, Any], response: Optional[Any] = None) -> bylaw.Decision:
        """The decision for a call; for its answer (``response``) the policy alone
        decides, since the governor already counted the call before it was made."""
        request = self.request_for(data, response)
        if self.governor is not None and response is None:
            return self.governor.decide(request)
        return self.policy.decide(request)

    def _enforce(self, decision: bylaw.Decision, data: Dict[str, Any], stage: str) -> None:
        metadata = data.setdefault("metadata", {}) if isinstance(data, dict) else {}
        if isinstance(metadata, dict):
            metadata.setdefault("bylaw_decisions", []).append({"stage": stage, **decision.to_dict()})
        outcome = decision.outcome
        if outcome == "allow" or (outcome == "escalate" and self.on_escalate == "allow"):
            return
        if outcome == "suspended":
            service = decision.service or {}
            fallback = service.get("fallback")
            answer = self.fallbacks.get(fallback or "") or (
                f"This service is paused; please use {fallback}." if fallback else "This service is paused."
            )
            self.raise_passthrough_exception(
                violation_message=answer,
                request_data=data,
                detection_info={"bylaw": decision.to_dict()},
            )
        raise GuardrailRaisedException(
            guardrail_name=self.guardrail_name,
            message=f"{outcome}: {_explain(decision)}",
            should_wrap_with_default_message=False,
            blocked_content=not decision.errors,
        )

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any) -> dict:
        self._enforce(self.decide(data), data, "pre_call")
        return data

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict: Any, response: Any) -> Any:
        if "output.text" not in self._fields and self.mapper is None:
            return response
        self._enforce(self.decide(data, response), data, "post_call")
        return response

