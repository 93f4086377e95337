"""Type stubs for the extension module ``bylaw._bylaw`` (re-exported by ``bylaw``)."""

from datetime import datetime
from os import PathLike
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Union

__version__: str

Request = Union[Mapping[str, Any], str, bytes, bytearray]
"""A request: a dict shaped like the policy's schema, or the same as JSON text."""

Moment = Union[datetime, str, None]
"""A moment: a timezone-aware ``datetime``, RFC 3339 text, or ``None`` for now."""

Outcome = Literal["allow", "escalate", "suspended", "deny"]

class PolicyError(ValueError):
    """A policy that does not compile."""

    diagnostics: List[Diagnostic]
    """Every problem found, errors and warnings, in source order."""
    rendered: str
    """The diagnostics as ``bylaw check`` prints them."""

class GovernorError(Exception):
    """The runtime refused an operation or could not make it durable."""

class Diagnostic:
    """One problem found in a policy."""

    code: str
    severity: Literal["error", "warning"]
    message: str
    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    help: Optional[str]

class Reason:
    """Something that contributed to a decision, and where the policy says it."""

    @property
    def kind(self) -> Literal["tier", "rule", "duty", "failure", "service", "block"]: ...
    @property
    def id(self) -> str: ...
    @property
    def outcome(self) -> Optional[Outcome]: ...
    @property
    def message(self) -> str: ...
    @property
    def cite(self) -> Optional[str]: ...
    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Duty:
    """A duty that applies to a request, met or not."""

    @property
    def id(self) -> str: ...
    @property
    def met(self) -> bool: ...
    @property
    def retain_seconds(self) -> Optional[int]: ...
    @property
    def reports(self) -> List[Dict[str, Any]]: ...
    @property
    def notices(self) -> List[str]: ...
    @property
    def cite(self) -> List[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...

class Decision:
    """What the policy decided for one request."""

    @property
    def outcome(self) -> Outcome: ...
    @property
    def decision_id(self) -> Optional[str]:
        """A UUID v7 on a ``Governor``'s decisions; ``None`` for ``Policy.decide``."""
    @property
    def at(self) -> Optional[str]:
        """When a ``Governor`` decided (RFC 3339); ``None`` for ``Policy.decide``."""
    @property
    def allowed(self) -> bool: ...
    @property
    def tier(self) -> Optional[str]: ...
    @property
    def duties(self) -> List[Duty]: ...
    @property
    def reasons(self) -> List[Reason]: ...
    @property
    def errors(self) -> List[Dict[str, str]]:
        """Every bad field of an invalid request (``field``, ``message``)."""
    @property
    def service(self) -> Optional[Dict[str, Any]]: ...
    def to_dict(self) -> Dict[str, Any]:
        """Exactly what ``bylaw eval`` prints, as ``json.loads`` reads it."""
    def to_json(self) -> str: ...
    def explain(self) -> str: ...

class Policy:
    """A compiled policy; immutable and safe to share between threads."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def engine(self) -> Literal["jit", "interpreter"]: ...
    @property
    def warnings(self) -> List[Diagnostic]: ...
    @property
    def fields(self) -> List[str]: ...
    def decide(self, request: Request, *, degraded: bool = False) -> Decision:
        """Decides one request; an invalid one is denied with its errors, never raised."""
    def decide_many(self, requests: Iterable[Request], *, degraded: bool = False) -> List[Decision]: ...
    def check_request(self, request: Request) -> List[Dict[str, str]]:
        """Every reason the request is invalid; empty when it is valid."""

def compile(source: str, *, name: Optional[str] = None, engine: Literal["jit", "interpreter"] = "jit") -> Policy:
    """Compiles policy source; raises ``PolicyError`` with every diagnostic."""

def load(
    path: Union[str, PathLike[str]],
    *,
    engine: Literal["jit", "interpreter"] = "jit",
    verify_key: Union[str, PathLike[str], None] = None,
) -> Policy:
    """Reads and compiles a policy file (its user modules found beside it and through
    the nearest ``bylaw.toml``), or opens a bundle, checking its fingerprints and, with
    ``verify_key``, its signature; a refused bundle raises ``ValueError``."""

class Governor:
    """The stateful runtime for one policy; ``state`` is the path of its state file."""

    def __init__(self, policy: Policy, state: Union[str, PathLike[str], None] = None) -> None: ...
    @property
    def policy(self) -> Policy: ...
    def decide(self, request: Request, *, now: Moment = None) -> Decision: ...
    def post_event(self, kind: str, event: Union[Mapping[str, Any], str, bytes], *, now: Moment = None) -> Dict[str, Any]: ...
    def suspend(self, service: str, *, by: str, reason: str, now: Moment = None) -> List[Dict[str, Any]]: ...
    def resume(self, service: str, *, by: str, now: Moment = None) -> List[Dict[str, Any]]: ...
    def approve(self, service: str, *, by: str, role: Optional[str] = None, now: Moment = None) -> List[Dict[str, Any]]: ...
    def block(self, field: str, key: str, *, seconds: int, cause: str, now: Moment = None) -> List[Dict[str, Any]]: ...
    def unblock(self, field: str, key: str, *, by: str, now: Moment = None) -> List[Dict[str, Any]]: ...
    def report_step(self, id: int, step: Literal["acknowledge", "file", "close"], *, by: str, now: Moment = None) -> List[Dict[str, Any]]: ...
    def reports(self, *, overdue: bool = False, now: Moment = None) -> List[Dict[str, Any]]: ...
    def status(self, *, now: Moment = None) -> Dict[str, Any]: ...
