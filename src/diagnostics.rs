//! One diagnostic type for every stage, rendered in one place: ariadne for people,
//! JSON for editors and CI.

use std::io::Write;

use serde::Serialize;

use crate::source::SourceMap;
use crate::syntax::span::Span;

macro_rules! codes {
    ($($variant:ident = $code:literal, $name:literal, $summary:literal;)*) => {
        /// Every diagnostic has a stable code. Codes are never reused or renumbered.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn code(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// A short kebab-case name, readable after "error:".
            pub fn name(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }
        }
    };
}

codes! {
    UnexpectedChar = "E0001", "unexpected-character", "a character that starts no token";
    UnterminatedString = "E0002", "unterminated-string", "a string literal without its closing quote on the same line";
    InvalidEscape = "E0003", "invalid-escape", "a backslash escape other than \\n \\t \\\\ \\\"";
    NumberTooLarge = "E0004", "number-too-large", "an integer literal or duration outside the 64-bit range";
    UnknownDurationUnit = "E0005", "unknown-duration-unit", "a number followed by a suffix that is not s, m, h, d or w";
    InvalidNumber = "E0006", "invalid-number", "a decimal number too large for a 64-bit float";
    SyntaxError = "E0010", "syntax-error", "a token where the grammar expects something else";
    UnexpectedEnd = "E0011", "unexpected-end", "the declaration or file ends too early";
    StrayText = "E0012", "stray-text", "text outside any declaration";
    TooManyProblems = "E0014", "too-many-problems", "more than 100 problems in one file: the rest are counted, not listed";
    TooDeep = "E0013", "too-deep", "brackets or prefix operators nested more than 256 levels";
    DuplicatePolicy = "E0100", "duplicate-policy", "more than one `policy` line";
    DuplicateName = "E0101", "duplicate-name", "a name declared twice in the same namespace";
    DuplicateMember = "E0102", "duplicate-member", "an enum member listed twice";
    UnknownType = "E0103", "unknown-type", "a field type that is neither a built-in type nor an enum";
    InvalidSetElement = "E0104", "invalid-set-element", "`set<T>` where T is not an enum or `string`";
    InvalidSchemaName = "E0105", "invalid-schema-name", "a schema other than `schema request`";
    FieldPrefixConflict = "E0107", "field-prefix-conflict", "a field that is also the parent object of another field";
    InvalidVersion = "E0108", "invalid-version", "a policy version that is not `MAJOR.MINOR.PATCH`";
    UnknownModule = "E0109", "unknown-module", "`use` of a module that does not exist";
    DuplicateTiers = "E0110", "duplicate-tiers", "more than one `tiers` block";
    MissingOtherwise = "E0111", "missing-otherwise", "a `tiers` block whose last entry is not `otherwise`";
    OtherwiseNotLast = "E0112", "otherwise-not-last", "an `otherwise` tier followed by more tiers";
    DuplicateDefault = "E0113", "duplicate-default", "more than one `default` line";
    DefCycle = "E0114", "def-cycle", "a `def` that depends on itself";
    TierInTierCondition = "E0115", "tier-in-tier-condition", "a tier condition that reads `tier`";
    EmptyEnum = "E0116", "empty-enum", "an enum without members";
    ModuleConflict = "E0117", "module-conflict", "a module declares a field or enum that the policy (or another module) declares differently";
    UnknownParameter = "E0118", "unknown-parameter", "`use` sets a parameter the module does not declare";
    ParameterNotConstant = "E0119", "parameter-not-constant", "a typed `def` (a parameter) whose value is not a constant of its type";
    TiersInModule = "E0120", "tiers-in-module", "a module with a `tiers` block: tiers belong to the policy";
    ModuleCycle = "E0127", "module-cycle", "a module that uses itself, directly or through other modules (or uses the policy)";
    RetainNeedsDuration = "E0121", "retain-needs-duration", "`retain NAME` where NAME is not a constant duration `def`";
    EnumSetTooLarge = "E0123", "enum-set-too-large", "`set<E>` of an enum with more than 64 members";
    TooManyTiers = "E0124", "too-many-tiers", "a `tiers` block with more than 64 tiers";
    MissingPolicy = "E0122", "missing-policy", "a file without its `policy NAME version \"x.y.z\"` line (an empty or half-written file)";
    UnknownName = "E0200", "unknown-name", "a name that is no field, `def`, enum member or built-in";
    UnknownMember = "E0201", "unknown-member", "an enum member that the enum does not have";
    AmbiguousMember = "E0202", "ambiguous-member", "a bare member that several enums share, with nothing to decide";
    AmbiguousPath = "E0203", "ambiguous-path", "a dotted name that is both a field and `Enum.member`";
    TypeMismatch = "E0204", "type-mismatch", "an expression of one type where another is required";
    OptionalRead = "E0205", "optional-read", "an optional field read without `has()` or `??`";
    InvalidOperand = "E0206", "invalid-operand", "an operator applied to a type it does not take";
    HasNeedsField = "E0207", "has-needs-field", "`has()` of something that is not a field";
    UnknownTier = "E0208", "unknown-tier", "a tier name that the `tiers` block does not declare";
    NoTiers = "E0209", "no-tiers", "`tier` read in a policy without a `tiers` block";
    NotASet = "E0210", "not-a-set", "the right side of `in` is not a set";
    NullOutsideFixture = "E0211", "null-outside-fixture", "`null` in a condition";
    UntypedSet = "E0212", "untyped-set", "a set literal whose element type cannot be inferred";
    NotComparable = "E0213", "not-comparable", "two values of types that cannot be compared";
    UnknownFunction = "E0214", "unknown-function", "a call of a function that is not built in";
    ArgumentCount = "E0215", "argument-count", "a function called with too few or too many arguments";
    InvalidArgument = "E0216", "invalid-argument", "a function argument of a type the function does not take";
    InvalidPattern = "E0217", "invalid-pattern", "a `matches` pattern that is not a literal, does not parse, or is too large to compile";
    ComputedStringDefault = "E0218", "computed-string-default", "`lower(…)` or `upper(…)` as the default of `??` (apply it to the whole `??` instead)";
    InvalidTimestamp = "E0219", "invalid-timestamp", "a date or timestamp that is not a valid day or an RFC 3339 timestamp with an offset";
    UnknownTimeZone = "E0220", "unknown-time-zone", "a time zone that the IANA database does not name";
    InvalidClock = "E0221", "invalid-clock", "a `clock` that names no field, a field that is not a plain `timestamp`, or a second `clock`";
    InvalidEffective = "E0222", "invalid-effective", "an `effective` period that is not `from date(…) [until date(…)]`, or is empty";
    UnknownService = "E0300", "unknown-service", "a trigger action naming a service that is not declared";
    UnknownByField = "E0301", "unknown-by-field", "a trigger `by` key that is not a schema field";
    BlockKeyMismatch = "E0302", "block-key-mismatch", "`block` of a key other than the trigger's `by` path";
    InvalidThreshold = "E0303", "invalid-threshold", "a trigger threshold of the wrong kind or range";
    MissingServiceField = "E0304", "missing-service-field", "services declared without `service: string` in the schema";
    MissingIdField = "E0305", "missing-id-field", "a ramp without `id: string` in the schema";
    InvalidRamp = "E0306", "invalid-ramp", "ramp stages that do not rise within 0–100%";
    DuplicateDutyItem = "E0307", "duplicate-duty-item", "a duty item that may appear once, given twice";
    DuplicateServiceItem = "E0308", "duplicate-service-item", "a service or recovery item that may appear once, given twice";
    ZeroDuration = "E0309", "zero-duration", "a window, block or deadline of zero length";
    DurationTooLong = "E0312", "duration-too-long", "a window, retention, deadline, block or suspension longer than 100 years";
    DefaultOnOptional = "E0125", "invalid-default", "a schema default on an optional field, or a set default other than `{}`";
    AmountNeedsConstant = "E0126", "amount-needs-constant", "a trigger's window, threshold, deadline or block length names something that is not a constant `def` of its type";
    InvalidMinimum = "E0313", "invalid-minimum", "`min` on a trigger other than a rate, or a minimum below 1";
    UnknownEvent = "E0314", "unknown-event", "`where` after a name that is not a declared `event` kind";
    InvalidEventField = "E0315", "invalid-event-field", "an event's `id` that is not a required `string`, or `aware_at` that is not a `timestamp`";
    InvalidPerEvent = "E0316", "invalid-per-event", "`report … per event` on a trigger that counts requests, or a word other than `per`";
    InvalidRecoveryRequirement = "E0317", "invalid-recovery-requirement", "`require report` followed by a word other than `filed`";
    RequestInEventCondition = "E0318", "request-in-event-condition", "an event trigger's condition reading the request: a `def` over request fields, `tier` or `degraded`";
    InvalidByType = "E0311", "invalid-by-type", "a `by` key of a type that cannot be a key (a set)";
    UnknownFixture = "E0400", "unknown-fixture", "`given` a fixture that is not declared";
    MissingFixtureField = "E0401", "missing-fixture-field", "a fixture without a required schema field";
    UnknownFixtureField = "E0402", "unknown-fixture-field", "a fixture or override naming a field the schema lacks";
    InvalidFixtureValue = "E0403", "invalid-fixture-value", "a fixture value that is not a constant";
    UnknownDuty = "E0404", "unknown-duty", "`expect duty` of a duty that is not declared";
    DuplicateFixtureField = "E0405", "duplicate-fixture-field", "a field given twice in one fixture or override";
    UnknownRule = "E0406", "unknown-rule", "`expect rule` of a name no rule has, or `expect` followed by a word other than `tier`, `duty` or `rule`";
    TestFailed = "E0407", "test-failed", "a `test` whose decision is not what it expects, found by running the tests (the editor's run-test lens)";
    CodegenFailed = "E0900", "codegen-failed", "native code could not be made for a checked policy (a bug in Bylaw, not in the policy)";
    HasOnRequired = "W0001", "has-on-required", "`has()` of a required field is always true";
    CoalesceOnRequired = "W0002", "coalesce-on-required", "`??` after a required field never uses its default";
    UnreachableTier = "L0001", "unreachable-tier", "a tier no request can reach: earlier tiers take every request it would match";
    DuplicateRule = "L0002", "duplicate-rule", "a rule with the same outcome and an equivalent condition as an earlier one";
    ShadowedRule = "L0003", "shadowed-rule", "a rule whose condition implies an earlier rule's with the same outcome";
    UnsatisfiableCondition = "L0004", "unsatisfiable-condition", "a condition that no request can satisfy";
    Tautology = "L0005", "tautology", "a condition that every request satisfies";
    DutyNeverApplies = "L0006", "duty-never-applies", "a duty whose `applies` clauses no request can meet";
    RequireAlwaysHolds = "L0007", "require-always-holds", "a `require` that holds wherever its duty applies";
    IneffectiveRule = "L0008", "ineffective-rule", "a rule that can never change the outcome";
    SuspendWithoutRecovery = "L0009", "suspend-without-recovery", "a trigger that suspends a service with no `recovery` block";
    RecoveryWithoutApproval = "L0010", "recovery-without-approval", "a recovery procedure without any `approve by`";
    RampNotComplete = "L0011", "ramp-not-ending-at-100", "a ramp whose last stage is below 100%";
    FloatEquality = "L0012", "float-equality", "`==` or `!=` between floating-point values";
    UnusedField = "L0013", "unused-field", "a schema field that nothing reads";
    UnusedDef = "L0014", "unused-def", "a `def` that nothing uses";
    UnusedFixture = "L0015", "unused-fixture", "a fixture that no test starts from";
    MissingCiteRule = "L0016", "missing-cite-rule", "a `deny` rule without a `cite`";
    MissingCiteDuty = "L0017", "missing-cite-duty", "a duty without a `cite`";
    MissingDefault = "L0018", "missing-default", "a policy without an explicit `default`";
    ThresholdOutOfRange = "L0019", "threshold-out-of-range", "a comparison with a value its type's range makes always true or never true";
    RecoveryTimeoutTooShort = "L0020", "recovery-timeout-too-short", "a recovery `timeout` shorter than its own ramp";
    NoTests = "L0021", "no-tests", "a policy with rules or duties and no `test` block";
    NegatedComparison = "L0022", "negated-comparison", "`not a == b` and the like, clearer as `a != b`";
    BooleanLiteralComparison = "L0023", "boolean-literal-comparison", "a comparison with `true` or `false`";
    SingleItemIn = "L0024", "single-item-in", "`x in {a}`, clearer as `x == a`";
    DegradedNeverSet = "L0025", "degraded-never-set", "a condition reads `degraded` but no trigger degrades a service";
    ServiceWithoutFallback = "L0026", "service-without-fallback", "a service without a `fallback`";
    EmptyDuty = "L0027", "empty-duty", "a duty with no `require`, `retain`, `report` or `notice`";
    VagueCite = "L0028", "vague-cite", "a `cite` that names no article, section or number";
    EmptyMessage = "L0029", "empty-message", "a `because` or `else` message that is empty";
    UnusedEnum = "L0030", "unused-enum", "an enum that no field uses";
    PatternNeverMatches = "L0031", "pattern-never-matches", "a `matches` pattern that no string can match";
    ConstantSetRelation = "L0032", "constant-set-relation", "a set function given the empty set, so its answer is fixed";
    NoLongerInForce = "L0033", "no-longer-in-force", "a condition that holds only before a date that has passed";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: label.into(),
            }],
            help: None,
        }
    }

    pub fn warning(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, label)
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn span(&self) -> Span {
        self.labels.first().map(|l| l.span).unwrap_or_default()
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics in the order they should be shown: by position, errors first at a tie.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        a.span()
            .start
            .cmp(&b.span().start)
            .then(b.severity.cmp(&a.severity))
            .then(a.code.code().cmp(b.code.code()))
    });
}

/// Renders diagnostics for a terminal with ariadne.
pub fn render(sources: &SourceMap, diags: &[Diagnostic], color: bool) -> String {
    let mut out = Vec::new();
    // One line index per file for the whole report: building it per diagnostic made
    // thousands of errors in a large file quadratic.
    let mut cache = ariadne::sources(
        sources
            .files()
            .iter()
            .map(|f| (f.name.clone(), f.text.clone())),
    );
    for diag in diags {
        if on_a_long_line(sources, diag) {
            render_plain(sources, diag, &mut out);
            continue;
        }
        if render_one(sources, &mut cache, diag, color, &mut out).is_err() {
            // A report ariadne cannot draw still reaches the user, as one plain line.
            let _ = writeln!(
                out,
                "{}[{}]: {}",
                severity_word(diag.severity),
                diag.code.code(),
                diag.message
            );
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lines longer than this are not quoted: a report never repeats a huge line.
const MAX_QUOTED_LINE: usize = 400;

fn on_a_long_line(sources: &SourceMap, diag: &Diagnostic) -> bool {
    let span = diag.span();
    let Some(file) = sources.file_of(span) else {
        return false;
    };
    let at = (span.start.saturating_sub(file.base) as usize).min(file.text.len());
    let text = file.text.as_bytes();
    let start = text[..at]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = text[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| at + i);
    end - start > MAX_QUOTED_LINE
}

/// A diagnostic as text without a source excerpt: its code, message, place and help.
fn render_plain(sources: &SourceMap, diag: &Diagnostic, out: &mut Vec<u8>) {
    let span = diag.span();
    let place = match sources.file_of(span) {
        Some(file) => {
            let (line, column) = file.line_col(span.start);
            format!("{}:{line}:{column}", file.name)
        }
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "[{}] {}: {}\n   at {place} (the line is too long to quote)",
        diag.code.code(),
        match diag.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
        },
        diag.message
    );
    if let Some(label) = diag.labels.first() {
        let _ = writeln!(out, "   {}", label.message);
    }
    if let Some(help) = &diag.help {
        let _ = writeln!(out, "   Help: {help}");
    }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn render_one(
    sources: &SourceMap,
    cache: &mut impl ariadne::Cache<String>,
    diag: &Diagnostic,
    color: bool,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    use ariadne::{Color, Config, IndexType, Label as ALabel, Report, ReportKind};

    let locate = |span: Span| -> (String, std::ops::Range<usize>) {
        match sources.file_of(span) {
            Some(file) => {
                let start = (span.start - file.base) as usize;
                let end =
                    (span.end.saturating_sub(file.base) as usize).clamp(start, file.text.len());
                (file.name.clone(), start..end)
            }
            None => (String::new(), 0..0),
        }
    };
    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
    };
    let primary = locate(diag.span());
    let mut report = Report::build(kind, primary.clone())
        .with_config(
            Config::default()
                .with_color(color)
                .with_index_type(IndexType::Byte),
        )
        .with_code(diag.code.code())
        .with_message(&diag.message);
    for (i, label) in diag.labels.iter().enumerate() {
        let mut l = ALabel::new(locate(label.span)).with_message(&label.message);
        if color {
            l = l.with_color(if i == 0 {
                match diag.severity {
                    Severity::Error => Color::Red,
                    Severity::Warning => Color::Yellow,
                }
            } else {
                Color::Blue
            });
        }
        report = report.with_label(l.with_order(i as i32));
    }
    if let Some(help) = &diag.help {
        report = report.with_help(help);
    }
    report.finish().write(cache, out)
}

/// Where a span is, as people count: file name, 1-based lines and columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    /// Byte offsets within the file.
    pub start: u32,
    pub end: u32,
}

#[derive(Serialize)]
struct JsonLabel {
    message: String,
    #[serde(flatten)]
    position: Position,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    code: &'static str,
    name: &'static str,
    severity: Severity,
    message: String,
    labels: Vec<JsonLabel>,
    help: Option<String>,
}

/// Where `span` is; an empty file name and zeros when it is in no loaded file.
pub fn position(sources: &SourceMap, span: Span) -> Position {
    match sources.file_of(span) {
        Some(file) => {
            let (line, column) = file.line_col(span.start);
            let (end_line, end_column) = file.line_col(span.end);
            Position {
                file: file.name.clone(),
                line,
                column,
                end_line,
                end_column,
                start: span.start - file.base,
                end: span.end.saturating_sub(file.base),
            }
        }
        None => Position {
            file: String::new(),
            line: 0,
            column: 0,
            end_line: 0,
            end_column: 0,
            start: 0,
            end: 0,
        },
    }
}

/// One JSON value per diagnostic, for editors and CI.
pub fn to_json(sources: &SourceMap, diags: &[Diagnostic]) -> serde_json::Value {
    let items: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| JsonDiagnostic {
            code: d.code.code(),
            name: d.code.name(),
            severity: d.severity,
            message: d.message.clone(),
            labels: d
                .labels
                .iter()
                .map(|l| JsonLabel {
                    message: l.message.clone(),
                    position: position(sources, l.span),
                })
                .collect(),
            help: d.help.clone(),
        })
        .collect();
    serde_json::to_value(items).unwrap_or(serde_json::Value::Null)
}

/// A SARIF 2.1.0 log, for code-scanning services: one run, the rules that reported,
/// one result per diagnostic.
pub fn to_sarif(sources: &SourceMap, diags: &[Diagnostic]) -> serde_json::Value {
    let mut codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    codes.sort_by_key(|c| c.code());
    codes.dedup();
    let rules: Vec<serde_json::Value> = codes
        .iter()
        .map(|c| {
            let doc = if c.code().starts_with('L') {
                "docs/lint-rules.md"
            } else {
                "docs/diagnostics.md"
            };
            serde_json::json!({
                "id": c.code(),
                "name": c.name(),
                "shortDescription": { "text": c.summary() },
                "helpUri": format!("https://github.com/bylaw-lang/bylaw/blob/main/{doc}#{}", c.name()),
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = diags
        .iter()
        .map(|d| {
            let p = position(sources, d.span());
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                message.push_str(&format!(" ({help})"));
            }
            serde_json::json!({
                "ruleId": d.code.code(),
                "level": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                "message": { "text": message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": p.file },
                        "region": {
                            "startLine": p.line, "startColumn": p.column,
                            "endLine": p.end_line, "endColumn": p.end_column,
                        }
                    }
                }]
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "bylaw",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    })
}
