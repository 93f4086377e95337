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
