//! The id of a rule without a name: derived from what it says — its outcome, its
//! condition (as a tree: layout, comments and parentheses do not count) and its
//! message — so that it stays the same when rules around it are added, moved or
//! removed. `rule-` and the first 8 hex digits of a SHA-256.

use sha2::{Digest, Sha256};

use crate::ast::{ExprKind, Literal, RuleDecl};

pub(super) fn content_id(rule: &RuleDecl) -> String {
    let mut hash = Sha256::new();
    hash.update(rule.outcome.node.as_str().as_bytes());
    hash.update([0]);
    expr(&mut hash, &rule.when);
    hash.update([0]);
    hash.update(rule.because.node.as_bytes());
    let digest = hash.finalize();
    format!("rule-{}", hex::encode(&digest[..4]))
}

fn expr(hash: &mut Sha256, e: &crate::ast::Expr) {
    crate::tree_drop::with_stack(|| match &e.kind {
        ExprKind::Lit(lit) => literal(hash, lit),
        ExprKind::Path(p) => {
            hash.update(b"p");
            hash.update(p.dotted().as_bytes());
            hash.update([0]);
        }
        ExprKind::Tier => hash.update(b"t"),
        ExprKind::Has(p) => {
            hash.update(b"h");
            hash.update(p.dotted().as_bytes());
            hash.update([0]);
        }
        ExprKind::Not(inner) => {
            hash.update(b"!");
            expr(hash, inner);
        }
        ExprKind::Neg(inner) => {
            hash.update(b"~");
            expr(hash, inner);
        }
        ExprKind::Paren(inner) => expr(hash, inner),
        ExprKind::Binary(op, a, b) => {
            hash.update(b"(");
            hash.update(op.as_str().as_bytes());
            expr(hash, a);
            expr(hash, b);
            hash.update(b")");
        }
        ExprKind::SetLit(items) => {
            hash.update(b"{");
            for item in items {
                expr(hash, item);
            }
            hash.update(b"}");
        }
        ExprKind::Call(f, args) => {
            hash.update(b"c");
            hash.update(f.node.as_bytes());
            hash.update(b"(");
            for arg in args {
                expr(hash, arg);
            }
            hash.update(b")");
        }
    })
}

fn literal(hash: &mut Sha256, lit: &Literal) {
    match lit {
        Literal::Bool(b) => hash.update(if *b { b"T" } else { b"F" }),
        Literal::Int(n) => {
            hash.update(b"i");
            hash.update(n.to_be_bytes());
        }
        Literal::Float(f) => {
            hash.update(b"f");
            hash.update(f.to_bits().to_be_bytes());
        }
        Literal::Str(s) => {
            hash.update(b"s");
            hash.update((s.len() as u64).to_be_bytes());
            hash.update(s.as_bytes());
        }
        Literal::Duration(d) => {
            hash.update(b"d");
            hash.update(d.to_be_bytes());
        }
        Literal::Percent(p) => {
            hash.update(b"%");
            hash.update(p.to_bits().to_be_bytes());
        }
        Literal::Null => hash.update(b"n"),
    }
}
