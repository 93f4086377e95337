//! The shared benchmark scenario, decided by every engine: hand-written Rust (with
//! `String` fields and with enums), Bylaw's interpreter and JIT, Cedar, Rego (regorus
//! VM) and CEL. Inputs are converted to each engine's native form up front — and, in
//! [`JsonEngines`], decoded from JSON bytes by each engine's own input path.

use std::str::FromStr;
use std::sync::Arc;

use serde_json::Value as Json;

pub const BYLAW_POLICY: &str = include_str!("../scenario/guard.bylaw");
pub const CEDAR_POLICY: &str = include_str!("../scenario/guard.cedar");
pub const REGO_POLICY: &str = include_str!("../scenario/guard.rego");
pub const CEL_EXPR: &str = include_str!("../scenario/guard.cel");
pub const REQUESTS: &str = include_str!("../scenario/requests.jsonl");

pub mod functions;

/// One scenario request as JSON, with its expected decision (`true` = allow).
pub struct Case {
    pub json: Json,
    pub allow: bool,
}

pub fn cases() -> Vec<Case> {
    REQUESTS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut json: Json = serde_json::from_str(line).unwrap_or(Json::Null);
            let allow = json.get("expected").and_then(Json::as_str) == Some("allow");
            if let Some(obj) = json.as_object_mut() {
                obj.remove("expected");
            }
            Case { json, allow }
        })
        .collect()
}

fn s(j: &Json, k: &str) -> String {
    j.get(k)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}
fn b(j: &Json, k: &str) -> bool {
    j.get(k).and_then(Json::as_bool).unwrap_or_default()
}
fn i(j: &Json, k: &str) -> i64 {
    j.get(k).and_then(Json::as_i64).unwrap_or_default()
}
fn f(j: &Json, k: &str) -> f64 {
    j.get(k).and_then(Json::as_f64).unwrap_or_default()
}

/// Hand-written Rust with `String` fields.
pub struct StringReq {
    pub domain: String,
    pub jurisdiction: String,
    pub user_age: i64,
    pub is_minor_mode: bool,
    pub contains_personal_data: bool,
    pub personal_data_consent: bool,
    pub output_is_synthetic_media: bool,
    pub has_ai_label: bool,
    pub model_tier: String,
    pub human_reviewer_assigned: bool,
    pub toxicity_score: f64,
    pub jailbreak_score: f64,
}

impl StringReq {
    pub fn from_json(j: &Json) -> Self {
        StringReq {
            domain: s(j, "domain"),
            jurisdiction: s(j, "jurisdiction"),
            user_age: i(j, "user_age"),
            is_minor_mode: b(j, "is_minor_mode"),
            contains_personal_data: b(j, "contains_personal_data"),
            personal_data_consent: b(j, "personal_data_consent"),
            output_is_synthetic_media: b(j, "output_is_synthetic_media"),
            has_ai_label: b(j, "has_ai_label"),
            model_tier: s(j, "model_tier"),
            human_reviewer_assigned: b(j, "human_reviewer_assigned"),
            toxicity_score: f(j, "toxicity_score"),
            jailbreak_score: f(j, "jailbreak_score"),
        }
    }

    /// `true` = allow.
    #[inline(never)]
    pub fn decide(&self) -> bool {
        let r = self;
        let eu = r.jurisdiction == "EU";
        let cn = r.jurisdiction == "CN";
        let us = r.jurisdiction == "US";
        let d = r.domain.as_str();
        !(r.jailbreak_score > 0.8
            || r.toxicity_score > 0.7
            || (r.contains_personal_data && !r.personal_data_consent)
            || (eu
                && matches!(d, "medical" | "judicial" | "finance")
                && !r.human_reviewer_assigned)
            || (cn && r.output_is_synthetic_media && !r.has_ai_label)
            || (r.user_age < 14 && !r.is_minor_mode)
            || (r.user_age < 18 && d == "finance")
            || (r.is_minor_mode && r.toxicity_score > 0.3)
            || (cn && r.user_age < 18 && !r.is_minor_mode)
            || (eu
                && r.model_tier == "gpai_systemic"
                && !r.human_reviewer_assigned
                && r.jailbreak_score > 0.5)
            || (eu && r.output_is_synthetic_media && !r.has_ai_label)
            || (d == "medical" && r.user_age < 16 && !r.human_reviewer_assigned)
            || (us && r.user_age < 13 && r.contains_personal_data)
            || (eu && r.user_age < 16 && r.contains_personal_data && !r.human_reviewer_assigned)
            || (r.model_tier == "gpai_systemic"
                && r.jailbreak_score > 0.6
                && r.toxicity_score > 0.4)
            || (d == "education"
                && r.is_minor_mode
                && r.output_is_synthetic_media
                && !r.has_ai_label)
            || (cn && d == "judicial" && !r.human_reviewer_assigned)
            || (r.model_tier == "narrow"
                && matches!(d, "medical" | "judicial")
                && r.output_is_synthetic_media)
            || (r.user_age < 0 || r.user_age > 150)
            || (cn && d == "general" && r.toxicity_score > 0.5))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Medical,
    Judicial,
    Finance,
    Education,
    General,
}
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Jurisdiction {
    Eu,
    Cn,
    Us,
}
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ModelTier {
    Narrow,
    Gpai,
    GpaiSystemic,
}

/// Hand-written Rust with enum fields.
pub struct EnumReq {
    pub domain: Domain,
    pub jurisdiction: Jurisdiction,
    pub user_age: i64,
    pub is_minor_mode: bool,
    pub contains_personal_data: bool,
    pub personal_data_consent: bool,
    pub output_is_synthetic_media: bool,
    pub has_ai_label: bool,
    pub model_tier: ModelTier,
    pub human_reviewer_assigned: bool,
    pub toxicity_score: f64,
    pub jailbreak_score: f64,
}

impl EnumReq {
    pub fn from_json(j: &Json) -> Self {
        let r = StringReq::from_json(j);
        EnumReq {
            domain: match r.domain.as_str() {
                "medical" => Domain::Medical,
                "judicial" => Domain::Judicial,
                "finance" => Domain::Finance,
                "education" => Domain::Education,
                _ => Domain::General,
            },
            jurisdiction: match r.jurisdiction.as_str() {
                "EU" => Jurisdiction::Eu,
                "CN" => Jurisdiction::Cn,
                _ => Jurisdiction::Us,
            },
            user_age: r.user_age,
            is_minor_mode: r.is_minor_mode,
            contains_personal_data: r.contains_personal_data,
            personal_data_consent: r.personal_data_consent,
            output_is_synthetic_media: r.output_is_synthetic_media,
            has_ai_label: r.has_ai_label,
            model_tier: match r.model_tier.as_str() {
                "narrow" => ModelTier::Narrow,
                "gpai" => ModelTier::Gpai,
                _ => ModelTier::GpaiSystemic,
            },
            human_reviewer_assigned: r.human_reviewer_assigned,
            toxicity_score: r.toxicity_score,
            jailbreak_score: r.jailbreak_score,
        }
    }

    /// `true` = allow.
    #[inline(never)]
    pub fn decide(&self) -> bool {
        use Domain::*;
        let r = self;
        let eu = r.jurisdiction == Jurisdiction::Eu;
        let cn = r.jurisdiction == Jurisdiction::Cn;
        let us = r.jurisdiction == Jurisdiction::Us;
        let d = r.domain;
        let systemic = r.model_tier == ModelTier::GpaiSystemic;
        !(r.jailbreak_score > 0.8
            || r.toxicity_score > 0.7
            || (r.contains_personal_data && !r.personal_data_consent)
            || (eu && matches!(d, Medical | Judicial | Finance) && !r.human_reviewer_assigned)
            || (cn && r.output_is_synthetic_media && !r.has_ai_label)
            || (r.user_age < 14 && !r.is_minor_mode)
            || (r.user_age < 18 && d == Finance)
            || (r.is_minor_mode && r.toxicity_score > 0.3)
            || (cn && r.user_age < 18 && !r.is_minor_mode)
            || (eu && systemic && !r.human_reviewer_assigned && r.jailbreak_score > 0.5)
            || (eu && r.output_is_synthetic_media && !r.has_ai_label)
            || (d == Medical && r.user_age < 16 && !r.human_reviewer_assigned)
            || (us && r.user_age < 13 && r.contains_personal_data)
            || (eu && r.user_age < 16 && r.contains_personal_data && !r.human_reviewer_assigned)
            || (systemic && r.jailbreak_score > 0.6 && r.toxicity_score > 0.4)
            || (d == Education
                && r.is_minor_mode
                && r.output_is_synthetic_media
                && !r.has_ai_label)
            || (cn && d == Judicial && !r.human_reviewer_assigned)
            || (r.model_tier == ModelTier::Narrow
                && matches!(d, Medical | Judicial)
                && r.output_is_synthetic_media)
            || (r.user_age < 0 || r.user_age > 150)
            || (cn && d == General && r.toxicity_score > 0.5))
    }
}

/// A Bylaw guard with its requests encoded up front.
pub struct BylawEngine {
    pub guard: bylaw::Guard,
    pub records: Vec<bylaw::Record>,
    out: bylaw::ir::Compact,
}

impl BylawEngine {
    pub fn new(engine: bylaw::Engine, cases: &[Case]) -> Self {
        Self::with_policy(BYLAW_POLICY, engine, cases)
    }

    pub fn with_policy(source: &str, engine: bylaw::Engine, cases: &[Case]) -> Self {
        let policy = bylaw::Policy::check("guard.bylaw", source).unwrap_or_else(|d| panic!("{d}"));
        let guard = bylaw::Guard::new(Arc::new(policy), engine).unwrap_or_else(|d| panic!("{d}"));
        let records = cases
            .iter()
            .map(|c| {
                guard
                    .encode_value(&c.json)
                    .unwrap_or_else(|e| panic!("{e:?}"))
            })
            .collect();
        let out = guard.compact();
        BylawEngine {
            guard,
            records,
            out,
        }
    }

    #[inline]
    pub fn decide(&mut self, index: usize) -> bool {
        let record = &self.records[index];
        self.guard.decide_compact(record, false, &mut self.out);
        self.out.outcome() == bylaw::ast::Outcome::Allow
    }

    /// Every record through `Guard::decide_many`; how many are allowed.
    pub fn decide_all(&self) -> usize {
        let mut allowed = 0;
        self.guard.decide_many(&self.records, false, |_, out| {
            allowed += usize::from(out.outcome() == bylaw::ast::Outcome::Allow);
        });
        allowed
    }

    /// The outcome alone (`Guard::decide_outcome`): stops at the first deny rule, as
    /// the hand-written Rust's `||` chain does.
    #[inline]
    pub fn decide_outcome(&mut self, index: usize) -> bool {
        let record = &self.records[index];
        self.guard.decide_outcome(record, false, &mut self.out) == bylaw::ast::Outcome::Allow
    }
}

/// The indices `0..n` in a fixed pseudo-random order: traffic does not arrive sorted
/// the way the scenario file is, and branches that predict in file order may not.
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// Cedar: `permit` all, 20 `forbid`s over `context`. Scores are integer thousandths.
pub struct CedarEngine {
    authorizer: cedar_policy::Authorizer,
    policies: cedar_policy::PolicySet,
    entities: cedar_policy::Entities,
    pub requests: Vec<cedar_policy::Request>,
    /// Each request's context as JSON.
    pub contexts: Vec<Json>,
}

impl CedarEngine {
    pub fn new(cases: &[Case]) -> Self {
        let contexts = cases
            .iter()
            .map(|c| {
                let mut context = c.json.clone();
                if let Some(obj) = context.as_object_mut() {
                    for key in ["toxicity_score", "jailbreak_score"] {
                        let v = obj.get(key).and_then(Json::as_f64).unwrap_or_default();
                        obj.insert(key.to_string(), Json::from((v * 1000.0).round() as i64));
                    }
                }
                context
            })
            .collect();
        Self::with_policy(CEDAR_POLICY, contexts)
    }

    /// Each request's JSON is its `context`.
    pub fn with_policy(source: &str, contexts: Vec<Json>) -> Self {
        let policies = cedar_policy::PolicySet::from_str(source).unwrap_or_else(|e| panic!("{e}"));
        let uid = |s: &str| cedar_policy::EntityUid::from_str(s).unwrap_or_else(|e| panic!("{e}"));
        let requests = contexts
            .iter()
            .map(|context| {
                let context = cedar_policy::Context::from_json_value(context.clone(), None)
                    .unwrap_or_else(|e| panic!("{e}"));
                cedar_policy::Request::new(
                    uid(r#"User::"u""#),
                    uid(r#"Action::"generate""#),
                    uid(r#"Service::"s""#),
                    context,
                    None,
                )
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        CedarEngine {
            authorizer: cedar_policy::Authorizer::new(),
            policies,
            entities: cedar_policy::Entities::empty(),
            requests,
            contexts,
        }
    }

    pub fn decide(&self, index: usize) -> bool {
        let response =
            self.authorizer
                .is_authorized(&self.requests[index], &self.policies, &self.entities);
        response.decision() == cedar_policy::Decision::Allow
    }
}

/// Rego on the regorus bytecode VM: `set_input` + `execute` per decision.
pub struct RegoEngine {
    pub vm: regorus::rvm::vm::RegoVM,
    pub inputs: Vec<regorus::Value>,
}

impl RegoEngine {
    pub fn new(cases: &[Case]) -> Self {
        Self::with_policy(REGO_POLICY, "data.guard.allow", cases)
    }

    pub fn with_policy(source: &str, entry: &str, cases: &[Case]) -> Self {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("guard.rego".to_string(), source.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let entry: regorus::Rc<str> = regorus::Rc::from(entry);
        let compiled = engine
            .compile_with_entrypoint(&entry)
            .unwrap_or_else(|e| panic!("{e}"));
        let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
            &compiled,
            &[entry.as_ref()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut vm = regorus::rvm::vm::RegoVM::new();
        vm.load_program(program);
        let inputs = cases
            .iter()
            .map(|c| {
                regorus::Value::from_json_str(&c.json.to_string()).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        RegoEngine { vm, inputs }
    }

    pub fn decide(&mut self, index: usize) -> bool {
        self.vm.set_input(self.inputs[index].clone());
        match self.vm.execute() {
            Ok(v) => v == regorus::Value::from(true),
            Err(_) => false,
        }
    }
}

/// CEL: one expression, one context per request.
pub struct CelEngine {
    program: cel::Program,
    pub contexts: Vec<cel::Context<'static, 'static>>,
}

impl CelEngine {
    pub fn new(cases: &[Case]) -> Self {
        Self::with_expr(CEL_EXPR, cases)
    }

    pub fn with_expr(expr: &str, cases: &[Case]) -> Self {
        let program = cel::Program::compile(expr.trim()).unwrap_or_else(|e| panic!("{e}"));
        let contexts = cases
            .iter()
            .map(|c| {
                let mut ctx = cel::Context::default();
                if let Some(obj) = c.json.as_object() {
                    for (k, v) in obj {
                        let value = match v {
                            Json::Bool(b) => cel::Value::Bool(*b),
                            Json::Number(n) if n.is_i64() => {
                                cel::Value::Int(n.as_i64().unwrap_or_default())
                            }
                            Json::Number(n) => cel::Value::Float(n.as_f64().unwrap_or_default()),
                            Json::String(s) => cel::Value::from(s.as_str()),
                            _ => cel::Value::Null,
                        };
                        ctx.add_variable_from_value(k.clone(), value);
                    }
                }
                ctx
            })
            .collect();
        CelEngine { program, contexts }
    }

    pub fn decide(&self, index: usize) -> bool {
        matches!(
            self.program.execute(&self.contexts[index]),
            Ok(cel::Value::Bool(true))
        )
    }
}

/// The scenario as an enforcement module (`bylaw build`) linked into the example C host
/// (`examples/c/main.c`), run as a separate process.
pub struct CModuleHost {
    dir: std::path::PathBuf,
    host: std::path::PathBuf,
    input: String,
}

impl CModuleHost {
    pub fn new(cases: &[Case]) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("bylaw-bench-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let policy =
            bylaw::Policy::check("guard.bylaw", BYLAW_POLICY).map_err(|d| d.to_string())?;
        bylaw::cmodule::write_module(
            &policy.ir,
            &dir.join("guard.o"),
            &dir.join("guard.h"),
            false,
        )?;
        let host = dir.join("host");
        let main_c = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/c/main.c");
        let status = std::process::Command::new("cc")
            .args(["-O2", "-std=c99", "-I"])
            .arg(&dir)
            .arg(main_c)
            .arg(dir.join("guard.o"))
            .arg("-o")
            .arg(&host)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("cc failed".to_string());
        }
        let mut input = String::new();
        for case in cases {
            if let Some(obj) = case.json.as_object() {
                for (k, v) in obj {
                    let text = match v {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    input.push_str(&format!("{k}={text}\n"));
                }
            }
            input.push('\n');
        }
        Ok(CModuleHost { dir, host, input })
    }

    fn run(&self, args: &[&str]) -> Result<String, String> {
        use std::io::Write;
        let mut child = std::process::Command::new(&self.host)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(self.input.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        String::from_utf8(out.stdout).map_err(|e| e.to_string())
    }

    /// Every decision, `true` = allow.
    pub fn decisions(&self) -> Result<Vec<bool>, String> {
        Ok(self
            .run(&[])?
            .lines()
            .map(|l| l.starts_with("allow"))
            .collect())
    }

    /// Nanoseconds per decision over `rounds` passes, timed inside the host.
    pub fn ns_per_decision(&self, rounds: u32) -> Result<f64, String> {
        let out = self.run(&["--bench", &rounds.to_string()])?;
        out.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected host output: {out}"))
    }
}

impl Drop for CModuleHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every in-process engine, ready to decide the scenario.
/// The request lines as a client sends them (the scenario's lines without `expected`,
/// keys in the file's order), for the engines' own JSON input paths.
pub fn request_lines() -> Vec<String> {
    REQUESTS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match line.rfind(", \"expected\"") {
            Some(at) => format!("{}}}", &line[..at]),
            None => line.to_string(),
        })
        .collect()
}

/// Every engine from JSON bytes to a decision, each through its own JSON input: what a
/// service embedding it pays per request. The lines are each engine's request format
/// (Cedar's scores in integer thousandths, as its policy reads them), made up front.
pub struct JsonEngines {
    pub lines: Vec<String>,
    cedar_lines: Vec<String>,
    bylaw: bylaw::Guard,
    record: bylaw::Record,
    out: bylaw::ir::Compact,
    cel: cel::Program,
    /// CEL's standard library, made once: each request is a scope inside it.
    cel_root: cel::Context<'static, 'static>,
    rego: RegoEngine,
    cedar: CedarEngine,
    cedar_uids: [cedar_policy::EntityUid; 3],
}

impl JsonEngines {
    pub fn new(cases: &[Case]) -> Self {
        let lines = request_lines();
        let cedar = CedarEngine::new(cases);
        let cedar_lines = cedar.contexts.iter().map(Json::to_string).collect();
        let bylaw = bylaw::Policy::compile(BYLAW_POLICY).unwrap_or_else(|d| panic!("{d}"));
        let record = bylaw::Record::default();
        let out = bylaw.compact();
        JsonEngines {
            lines,
            cedar_lines,
            bylaw,
            record,
            out,
            cel: cel::Program::compile(CEL_EXPR.trim()).unwrap_or_else(|e| panic!("{e}")),
            cel_root: cel::Context::default(),
            rego: RegoEngine::new(cases),
            cedar,
            cedar_uids: [r#"User::"u""#, r#"Action::"generate""#, r#"Service::"s""#]
                .map(|s| cedar_policy::EntityUid::from_str(s).unwrap_or_else(|e| panic!("{e}"))),
        }
    }

    /// `Guard::encode_json_into` a kept record, then `decide_compact`.
    pub fn bylaw(&mut self, index: usize) -> bool {
        let line = self.lines[index].as_bytes();
        if self.bylaw.encode_json_into(line, &mut self.record).is_err() {
            return false;
        }
        self.bylaw
            .decide_compact(&self.record, false, &mut self.out);
        self.out.outcome() == bylaw::ast::Outcome::Allow
    }

    /// `Guard::decide_json`: bytes to a `Decision` with its reasons and tier.
    pub fn bylaw_decision(&self, index: usize) -> bool {
        let decision = self.bylaw.decide_json(self.lines[index].as_bytes());
        decision.outcome == bylaw::runtime::decision::Outcome::Allow
    }

    /// serde_json's map, each member a variable (`Context::add_variable`, serde) of a
    /// scope inside the standard library's context.
    pub fn cel(&self, index: usize) -> bool {
        let Ok(request) = serde_json::from_str::<serde_json::Map<String, Json>>(&self.lines[index])
        else {
            return false;
        };
        let mut context = self.cel_root.new_inner_scope();
        for (key, value) in request {
            if context.add_variable(key, value).is_err() {
                return false;
            }
        }
        matches!(self.cel.execute(&context), Ok(cel::Value::Bool(true)))
    }

    /// `regorus::Value::from_json_str` as the VM's input.
    pub fn rego(&mut self, index: usize) -> bool {
        let Ok(input) = regorus::Value::from_json_str(&self.lines[index]) else {
            return false;
        };
        self.rego.vm.set_input(input);
        matches!(self.rego.vm.execute(), Ok(v) if v == regorus::Value::from(true))
    }

    /// `Context::from_json_str` into a `Request`, then `is_authorized`. The principal,
    /// action and resource are the scenario's constants, parsed once.
    pub fn cedar(&self, index: usize) -> bool {
        let [principal, action, resource] = self.cedar_uids.clone();
        let Ok(context) = cedar_policy::Context::from_json_str(&self.cedar_lines[index], None)
        else {
            return false;
        };
        let Ok(request) = cedar_policy::Request::new(principal, action, resource, context, None)
        else {
            return false;
        };
        let response = self.cedar.authorizer.is_authorized(
            &request,
            &self.cedar.policies,
            &self.cedar.entities,
        );
        response.decision() == cedar_policy::Decision::Allow
    }

    /// How many requests each JSON path decides differently from `expected`, in the
    /// order of [`JSON_ENGINE_NAMES`].
    pub fn disagreements(&mut self, cases: &[Case]) -> [usize; 5] {
        let mut wrong = [0usize; 5];
        for (i, case) in cases.iter().enumerate() {
            let answers = [
                self.bylaw(i),
                self.bylaw_decision(i),
                self.cel(i),
                self.rego(i),
                self.cedar(i),
            ];
            for (k, a) in answers.iter().enumerate() {
                wrong[k] += usize::from(*a != case.allow);
            }
        }
        wrong
    }
}

pub const JSON_ENGINE_NAMES: [&str; 5] = ["bylaw", "bylaw-decision", "cel", "rego-vm", "cedar"];

pub struct Engines {
    pub strings: Vec<StringReq>,
    pub enums: Vec<EnumReq>,
    pub jit: BylawEngine,
    pub interp: BylawEngine,
    pub cedar: CedarEngine,
    pub rego: RegoEngine,
    pub cel: CelEngine,
}

/// The engines in the order `Engines::disagreements` reports them.
pub const ENGINE_NAMES: [&str; 7] = [
    "rust-strings",
    "rust-enums",
    "bylaw-interp",
    "bylaw-jit",
    "cedar",
    "rego-vm",
    "cel",
];

impl Engines {
    pub fn new(cases: &[Case]) -> Self {
        Engines {
            strings: cases
                .iter()
                .map(|c| StringReq::from_json(&c.json))
                .collect(),
            enums: cases.iter().map(|c| EnumReq::from_json(&c.json)).collect(),
            jit: BylawEngine::new(bylaw::Engine::Jit, cases),
            interp: BylawEngine::new(bylaw::Engine::Interpreter, cases),
            cedar: CedarEngine::new(cases),
            rego: RegoEngine::new(cases),
            cel: CelEngine::new(cases),
        }
    }

    /// How many requests each engine decides differently from `expected`.
    pub fn disagreements(&mut self, cases: &[Case]) -> [usize; 7] {
        let mut wrong = [0usize; 7];
        for (i, case) in cases.iter().enumerate() {
            let answers = [
                self.strings[i].decide(),
                self.enums[i].decide(),
                self.interp.decide(i),
                self.jit.decide(i),
                self.cedar.decide(i),
                self.rego.decide(i),
                self.cel.decide(i),
            ];
            for (k, a) in answers.iter().enumerate() {
                wrong[k] += usize::from(*a != case.allow);
            }
        }
        wrong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_agrees_with_the_expected_decisions() {
        let cases = cases();
        assert_eq!(cases.len(), 10_000);
        let expected: Vec<bool> = cases.iter().map(|c| c.allow).collect();
        assert_eq!(expected.iter().filter(|a| **a).count(), 5_037);
        let mut engines = Engines::new(&cases);
        assert_eq!(engines.disagreements(&cases), [0; 7], "{ENGINE_NAMES:?}");
        let mut json = JsonEngines::new(&cases);
        assert_eq!(json.disagreements(&cases), [0; 5], "{JSON_ENGINE_NAMES:?}");
        let host = CModuleHost::new(&cases).unwrap();
        assert_eq!(
            host.decisions().unwrap(),
            expected,
            "the C module agrees on every request"
        );
    }
}
