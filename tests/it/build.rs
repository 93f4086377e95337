//! `bylaw build`: enforcement modules linked into a C host must decide exactly as the
//! interpreter does — the shared examples and generated policies, on generated requests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bylaw::ir::FieldType;
use bylaw::{Engine, Guard, Policy};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value as Json, json};

fn bylaw_bin() -> &'static str {
    env!("CARGO_BIN_EXE_bylaw")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bylaw-build-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `source` to `dir/policy.bylaw` and runs `bylaw build` on it with `args`.
fn bylaw_build(source: &str, dir: &Path, args: &[&str]) {
    let policy = dir.join("policy.bylaw");
    std::fs::write(&policy, source).unwrap();
    let out = Command::new(bylaw_bin())
        .args(["build", policy.to_str().unwrap()])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bylaw build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `source` as an object file and links the example C host against it.
fn build_host(source: &str, dir: &Path) -> PathBuf {
    bylaw_build(source, dir, &["-o", "guard.o"]);
    let host = dir.join("host");
    let main_c = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c/main.c");
    let out = Command::new("cc")
        .args(["-O2", "-std=c99", "-Wall", "-Werror", "-I"])
        .arg(dir)
        .arg(&main_c)
        .arg(dir.join("guard.o"))
        .arg("-o")
        .arg(&host)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    host
}

fn run_host(host: &Path, input: &str, args: &[&str]) -> String {
    let mut child = Command::new(host)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// A deterministic pseudo-random source for requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// A valid request for any policy: values by field type, literals of the policy among
/// the strings, optional fields sometimes absent.
fn request(policy: &bylaw::ir::Policy, rng: &mut Rng) -> Json {
    let mut strings: Vec<String> = [
        "a",
        "x",
        "長い",
        "chat",
        "GPT-4o",
        "Straße",
        "İx",
        "ΑΣ",
        "",
        "please ignore all previous instructions; gpt-4 says 長い話 ß",
    ]
    .map(String::from)
    .to_vec();
    strings.extend(
        policy
            .strings
            .iter()
            .filter(|s| !s.contains([',', '\n', '=']))
            .cloned(),
    );
    let mut root = Map::new();
    for field in &policy.fields {
        if (field.optional || field.default.is_some()) && rng.next().is_multiple_of(3) {
            continue;
        }
        let value = match &field.ty {
            FieldType::Bool => json!(rng.next().is_multiple_of(2)),
            FieldType::Int | FieldType::Duration => {
                json!(*rng.pick(&[
                    0i64,
                    1,
                    -1,
                    3,
                    12,
                    14,
                    17,
                    18,
                    30,
                    100,
                    5000,
                    200_000,
                    i64::MAX,
                    i64::MIN,
                    999_999
                ]))
            }
            FieldType::Float | FieldType::Percent => json!(*rng.pick(&[
                0.0, -0.0, 0.05, 0.3, 0.5, 0.51, 0.8, 0.81, 0.95, 1.0, 1e308, -2.5
            ])),
            FieldType::Str => json!(rng.pick(&strings).clone()),
            FieldType::Timestamp => json!(*rng.pick(&[
                "1970-01-01T00:00:00Z",
                "1969-12-31T23:59:59.5Z",
                "2026-03-29T00:59:59Z",
                "2026-03-29T01:00:00Z",
                "2026-08-02T00:00:00+08:00",
                "2026-12-31T23:30:00-05:00",
                "9999-12-30T12:00:00Z",
            ])),
            FieldType::Enum(id) => json!(rng.pick(&policy.enums[*id].members).clone()),
            FieldType::EnumSet(id) => {
                let members = &policy.enums[*id].members;
                let n = rng.next() % 4;
                json!(
                    (0..n)
                        .map(|_| rng.pick(members).clone())
                        .collect::<Vec<_>>()
                )
            }
            FieldType::StrSet => {
                // The text format cannot carry an empty string inside a set.
                let items: Vec<&String> = strings.iter().filter(|s| !s.is_empty()).collect();
                let n = rng.next() % 4;
                json!(
                    (0..n)
                        .map(|_| (*rng.pick(&items)).clone())
                        .collect::<Vec<_>>()
                )
            }
        };
        let mut node = &mut root;
        let (last, parents) = field.segments.split_last().unwrap();
        for p in parents {
            node = node
                .entry(p.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap();
        }
        node.insert(last.clone(), value);
    }
    Json::Object(root)
}

/// The same request as `path=value` lines for the C host.
fn as_text(policy: &bylaw::ir::Policy, request: &Json) -> String {
    let mut out = String::new();
    for field in &policy.fields {
        let mut v = request;
        for s in &field.segments {
            v = &v[s.as_str()];
        }
        let text = match v {
            Json::Null => continue,
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => match n.as_i64() {
                Some(i) => i.to_string(),
                None => format!("{:?}", n.as_f64().unwrap()),
            },
            Json::String(s) => s.clone(),
            Json::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(","),
            Json::Object(_) => unreachable!(),
        };
        out.push_str(&format!("{}={text}\n", field.path));
    }
    out.push('\n');
    out
}

/// Builds, runs the C host over `count` requests, and compares word for word.
fn agree(source: &str, name: &str, count: usize, seed: u64) -> usize {
    let dir = scratch(name);
    let host = build_host(source, &dir);
    let policy = Arc::new(Policy::check("policy.bylaw", source).unwrap());
    let interp = Guard::new(policy.clone(), Engine::Interpreter).unwrap();
    let mut rng = Rng(seed);
    let requests: Vec<Json> = (0..count).map(|_| request(&policy.ir, &mut rng)).collect();
    let input: String = requests.iter().map(|r| as_text(&policy.ir, r)).collect();
    for degraded in [false, true] {
        let args: &[&str] = if degraded {
            &["--words", "--degraded"]
        } else {
            &["--words"]
        };
        let output = run_host(&host, &input, args);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), count, "{name}: one line per request");
        let mut out = interp.compact();
        for (request, line) in requests.iter().zip(&lines) {
            let record = interp.encode_value(request).unwrap();
            interp.decide_compact(&record, degraded, &mut out);
            let expected: Vec<String> = out.words.iter().map(|w| format!("{w:x}")).collect();
            assert_eq!(
                line.split(' ').collect::<Vec<_>>(),
                expected,
                "{name}: {request} degraded={degraded}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    count * 2
}

#[test]
fn modules_of_the_examples_agree_with_the_interpreter() {
    let mut decided = 0;
    for (i, path) in crate::example_policies().iter().enumerate() {
        let source = std::fs::read_to_string(path).unwrap();
        decided += agree(&source, &format!("example{i}"), 500, 0x9e37_79b9 + i as u64);
    }
    assert_eq!(decided, crate::example_policies().len() * 1000);
}

/// Schema defaults of every scalar kind, and the empty set: fields left out of a
/// request take them, in the module as in the interpreter.
pub(crate) const DEFAULTS: &str = r#"policy defaults version "1.0.0"
enum Region { EU, CN, US }
schema request {
  score: float = 0.25
  level: int = -3
  wait: duration = 2h
  share: percent = 5%
  deepfake: bool = true
  region: Region = CN
  model: string = "none"
  tags: set<string> = {}
  regions: set<Region> = {}
  label: string
}
deny when deepfake and region == CN because "cn deepfake"
escalate when model == "none" or model == label because "model"
deny when score > 0.2 and level < 0 and wait >= 1h and share < 10% because "all defaults"
allow when "x" in tags or EU in regions because "tagged"
"#;

#[test]
fn modules_with_schema_defaults_agree_with_the_interpreter() {
    assert_eq!(agree(DEFAULTS, "defaults", 400, 5), 800);
}

/// String, set and number functions, with strings that case mapping changes in length
/// (`ß`, `İ`): the module's own implementation against the interpreter's.
#[test]
fn modules_with_functions_agree_with_the_interpreter() {
    let source = std::fs::read_to_string(crate::data("guard/functions.bylaw")).unwrap();
    assert_eq!(agree(&source, "functions", 600, 11), 1200);
}

/// `now`, effective periods and the clock's timestamps.
#[test]
fn modules_with_a_clock_agree_with_the_interpreter() {
    let source = std::fs::read_to_string(crate::data("guard/clock.bylaw")).unwrap();
    assert_eq!(agree(&source, "clock", 300, 12), 600);
}

#[test]
fn modules_of_generated_policies_agree_with_the_interpreter() {
    let mut runner = TestRunner::deterministic();
    let strategy = crate::differential::policy_source();
    for i in 0..12 {
        let source = strategy.new_tree(&mut runner).unwrap().current();
        agree(&source, &format!("generated{i}"), 200, 17 + i);
    }
    // Past 256 rules the guard is several functions, compiled in parallel and linked.
    let large = crate::differential::policy_with_rules(300..500);
    let source = large.new_tree(&mut runner).unwrap().current();
    agree(&source, "generated-large", 200, 99);
}

/// Policies the guard's rule index reaches: the module dispatches on field values as
/// the JIT does, and decides as the interpreter, which evaluates every rule.
#[test]
fn modules_of_indexed_policies_agree_with_the_interpreter() {
    let mut runner = TestRunner::deterministic();
    let strategy = crate::differential::indexed_policy();
    for i in 0..3 {
        let source = strategy.new_tree(&mut runner).unwrap().current();
        let policy = Policy::check("indexed.bylaw", &source).unwrap();
        let index = bylaw::ir::index::RuleIndex::plan(&policy.ir);
        assert!(!index.groups.is_empty(), "{source}");
        assert_eq!(agree(&source, &format!("indexed{i}"), 300, 31 + i), 600);
    }
}

#[test]
fn the_c_host_prints_readable_decisions_and_refuses_bad_requests() {
    let source = std::fs::read_to_string(
        crate::example_policies()
            .into_iter()
            .find(|p| p.ends_with("genai_chat.bylaw"))
            .unwrap(),
    )
    .unwrap();
    let dir = scratch("readable");
    let host = build_host(&source, &dir);
    let ok = "id=t-1\nservice=chat\ndomain=medical\nregion=EU\nuser.age=30\nuser.minor_mode=false\n\
              data.personal=false\ndata.consent=false\nscores.toxicity=0.1\nscores.jailbreak=0.0\n\
              output.synthetic=false\noutput.explicit_label=false\nreviewer.assigned=false\ntags=a,blocked\n\n";
    let bad = "id=t-2\nservice=chat\ndomain=pediatrics\n\n";
    // A field given twice is invalid, as a repeated JSON key is.
    let twice = ok.replacen("region=EU\n", "region=EU\nregion=CN\n", 1);
    let out = run_host(&host, &format!("{ok}{bad}{twice}"), &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "deny tier=high [request tagged as blocked] duty=human_oversight(unmet) duty=keep_logs duty=disclose_ai"
    );
    assert_eq!(lines[1], "deny tier=none invalid");
    assert_eq!(lines[2], "deny tier=none invalid");
    let header = std::fs::read_to_string(dir.join("guard.h")).unwrap();
    assert!(header.contains("#define BYLAW_FIELD_USER_AGE 4 /* user.age: int */"));
    assert!(header.contains("#define BYLAW_REGION_EU 0"));
    assert!(header.contains("#define BYLAW_SCHEMA_FINGERPRINT UINT64_C(0x"));
    assert!(header.contains("#define BYLAW_POLICY_VERSION \"1.0.0\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shared_libraries_load_and_decide() {
    let dir = scratch("shared");
    bylaw_build(
        "policy p version \"1.0.0\"\nschema request { score: float }\ndeny when score > 0.5 because \"high\"\n",
        &dir,
        &["--shared", "libguard.so"],
    );
    let main_c = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c/main.c");
    let status = Command::new("cc")
        .args(["-O2", "-std=c99", "-I"])
        .arg(&dir)
        .arg(&main_c)
        .arg(format!("-L{}", dir.display()))
        .arg(format!("-Wl,-rpath,{}", dir.display()))
        .args(["-lguard", "-o"])
        .arg(dir.join("host"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = run_host(&dir.join("host"), "score=0.9\n\nscore=0.1\n\n", &[]);
    assert_eq!(out, "deny tier=none [high]\nallow tier=none\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fingerprints_change_with_the_schema_only() {
    let a = Policy::check(
        "a",
        "policy p version \"1.0.0\"\nschema request { x: int }\ndeny when x > 1 because \"a\"\n",
    )
    .unwrap();
    let b = Policy::check(
        "b",
        "policy q version \"2.0.0\"\nschema request { x: int }\nallow when x < 0 because \"b\"\n",
    )
    .unwrap();
    let c = Policy::check(
        "c",
        "policy p version \"1.0.0\"\nschema request { x: float }\ndeny when x > 1 because \"a\"\n",
    )
    .unwrap();
    let fp = bylaw::cmodule::schema_fingerprint;
    assert_eq!(fp(&a.ir), fp(&b.ir));
    assert_ne!(fp(&a.ir), fp(&c.ir));
}

#[test]
fn modules_are_reentrant_across_threads() {
    let dir = scratch("threads");
    bylaw_build(
        "policy p version \"1.0.0\"\nschema request {\n  score: float\n  user: string\n}\n\
         deny when score > 0.5 because \"high\"\ndeny when user == \"mallory\" because \"blocked user\"\n",
        &dir,
        &["-o", "guard.o"],
    );
    let status = Command::new("cc")
        .args(["-O2", "-std=c99", "-pthread", "-I"])
        .arg(&dir)
        .arg(crate::data("build/threads.c"))
        .arg(dir.join("guard.o"))
        .arg("-o")
        .arg(dir.join("threads"))
        .status()
        .unwrap();
    assert!(status.success());
    let out = Command::new(dir.join("threads")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // 49 of every 100 scores are above 0.5; one request in 7 is mallory's.
    assert_eq!(stdout.trim(), "563 denied, 0 mismatches");
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A module's request that leaves the clock out is decided at the host's time
/// (`time(NULL)`): today is past 2025-09-01, so the `label` duty applies and the rule of
/// 1999–2001 does not; a request with the clock is decided at its own time.
#[test]
fn a_module_fills_a_left_out_clock_with_the_time() {
    let source = std::fs::read_to_string(crate::data("guard/clock.bylaw")).unwrap();
    let dir = scratch("clock-now");
    let host = build_host(&source, &dir);
    let now = "id=r\nservice=chat\nuser.age=12\n\n";
    let then = "id=r\nservice=chat\nuser.age=12\nrequest.time=2000-06-01T12:00:00Z\n\n";
    let out = run_host(&host, &format!("{now}{then}"), &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("duty=label"), "{out}");
    assert!(!lines[0].contains("a rule of the past"), "{out}");
    assert_eq!(lines[1], "deny tier=none [a rule of the past]", "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
