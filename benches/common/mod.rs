//! Generated policies for benchmarks: a schema of many fields and many rules over them.
#![allow(dead_code)]

use std::fmt::Write;

/// A deterministic pseudo-random sequence (xorshift), so every run measures the same text.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A policy with `fields` schema fields (int, float, bool, enum, string in turn) and
/// `rules` rules, each a condition of one to four comparisons.
pub fn policy(fields: usize, rules: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::new();
    let _ = writeln!(out, "policy generated version \"1.0.0\"\n");
    let _ = writeln!(out, "enum Level {{ low, medium, high, critical }}\n");
    let _ = writeln!(out, "schema request {{");
    for i in 0..fields {
        let ty = match i % 5 {
            0 => "int",
            1 => "float",
            2 => "bool",
            3 => "Level",
            _ => "string",
        };
        let _ = writeln!(out, "  group{}.field{i}: {ty}", i % 37);
    }
    let _ = writeln!(out, "}}\n\ndefault allow\n");
    for r in 0..rules {
        let terms = 1 + rng.below(4) as usize;
        let mut cond = String::new();
        for t in 0..terms {
            if t > 0 {
                cond.push_str(if rng.below(3) == 0 { " or " } else { " and " });
            }
            let i = rng.below(fields as u64) as usize;
            let name = format!("group{}.field{i}", i % 37);
            let term = match i % 5 {
                0 => format!("{name} > {}", rng.below(200)),
                1 => format!("{name} >= 0.{}", rng.below(1000)),
                2 => {
                    if rng.below(2) == 0 {
                        name
                    } else {
                        format!("not {name}")
                    }
                }
                3 => format!("{name} in {{high, critical}}"),
                _ => format!("{name} == \"v{}\"", rng.below(10)),
            };
            cond.push_str(&term);
        }
        let outcome = ["deny", "escalate", "allow"][rng.below(3) as usize];
        let _ = writeln!(
            out,
            "{outcome} when {cond}\n  because \"generated rule {r}\" cite \"Generated Art. {r}\""
        );
    }
    out
}

/// A policy of the kind deployments generate — per-model, per-tenant and per-language
/// rules, many sharing a field — where each request can match only a few rules: 60%
/// keyed by `model.id`, 25% by `tenant.id` (two tenants each), 10% by `prompt.lang`,
/// 5% with no key. With `indexable` false every key is written `(KEY or false)`, which
/// decides the same but hides the key from the guard's index: the same policy scanned.
pub fn keyed_policy(rules: usize, seed: u64, indexable: bool) -> String {
    let mut rng = Rng::new(seed);
    let keys = (rules / 10).max(1) as u64;
    let mut out = String::new();
    let _ = writeln!(out, "policy keyed version \"1.0.0\"\n");
    let _ = writeln!(out, "enum Region {{ eu, us, uk, cn, jp, br }}\n");
    let _ = writeln!(
        out,
        "schema request {{\n  model.id: string\n  tenant.id: string\n  region: Region\n  \
         prompt.lang: string\n  user.age: int\n  scores.toxicity: float\n  flags.pii: bool\n}}\n"
    );
    let _ = writeln!(out, "default allow\n");
    let key = |k: String| {
        if indexable {
            k
        } else {
            format!("({k} or false)")
        }
    };
    for r in 0..rules {
        let pick = rng.below(100);
        let cond = if pick < 60 {
            format!(
                "{} and scores.toxicity > 0.{}",
                key(format!("model.id == \"m{}\"", rng.below(keys))),
                rng.below(1000)
            )
        } else if pick < 85 {
            format!(
                "{} and user.age < {}",
                key(format!(
                    "tenant.id in {{\"t{}\", \"t{}\"}}",
                    rng.below(keys),
                    rng.below(keys)
                )),
                rng.below(30)
            )
        } else if pick < 95 {
            format!(
                "{} and flags.pii and {}",
                key(format!("prompt.lang == \"l{}\"", rng.below(keys))),
                key("region in {eu, uk}".to_string())
            )
        } else {
            format!(
                "scores.toxicity > 0.9{} and user.age < {}",
                rng.below(10),
                rng.below(18)
            )
        };
        let outcome = ["deny", "escalate"][rng.below(2) as usize];
        let _ = writeln!(
            out,
            "{outcome} when {cond}\n  because \"keyed rule {r}\" cite \"Generated Art. {r}\""
        );
    }
    out
}

/// Requests for [`keyed_policy`]: keys drawn from the policy's own values (and one in
/// ten from none of them).
pub fn keyed_requests(rules: usize, count: usize, seed: u64) -> Vec<serde_json::Value> {
    let mut rng = Rng::new(seed);
    let keys = (rules / 10).max(1) as u64;
    let value = |prefix: &str, rng: &mut Rng| {
        if rng.below(10) == 0 {
            format!("{prefix}-unknown")
        } else {
            format!("{prefix}{}", rng.below(keys))
        }
    };
    (0..count)
        .map(|_| {
            let region = ["eu", "us", "uk", "cn", "jp", "br"][rng.below(6) as usize];
            serde_json::json!({
                "model": {"id": value("m", &mut rng)},
                "tenant": {"id": value("t", &mut rng)},
                "prompt": {"lang": value("l", &mut rng)},
                "region": region,
                "user": {"age": rng.below(40) as i64},
                "scores": {"toxicity": rng.below(1000) as f64 / 1000.0},
                "flags": {"pii": rng.below(2) == 0},
            })
        })
        .collect()
}
