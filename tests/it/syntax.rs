//! Parser output: precedence and layout, as a compact tree snapshotted with insta.

use bylaw::ast::{Decl, Expr, ExprKind, Literal};

fn sexpr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(Literal::Bool(b)) => b.to_string(),
        ExprKind::Lit(Literal::Int(i)) => i.to_string(),
        ExprKind::Lit(Literal::Float(f)) => format!("{f:?}"),
        ExprKind::Lit(Literal::Str(s)) => format!("{s:?}"),
        ExprKind::Lit(Literal::Duration(d)) => format!("{d}s"),
        ExprKind::Lit(Literal::Percent(p)) => format!("{p}%"),
        ExprKind::Lit(Literal::Null) => "null".into(),
        ExprKind::Path(p) => p.dotted(),
        ExprKind::Tier => "tier".into(),
        ExprKind::Has(p) => format!("(has {})", p.dotted()),
        ExprKind::Not(e) => format!("(not {})", sexpr(e)),
        ExprKind::Neg(e) => format!("(- {})", sexpr(e)),
        ExprKind::Paren(e) => sexpr(e),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sexpr(a), sexpr(b)),
        ExprKind::SetLit(items) => {
            let items: Vec<String> = items.iter().map(sexpr).collect();
            format!("{{{}}}", items.join(" "))
        }
        ExprKind::Call(f, args) => {
            let args: Vec<String> = args.iter().map(sexpr).collect();
            format!("({}() {})", f.node, args.join(" "))
        }
    }
}

#[test]
fn precedence_follows_the_brief() {
    let text = std::fs::read_to_string(crate::data("syntax/precedence.bylaw")).unwrap();
    let parsed = bylaw::syntax::parser::parse(&text, 0);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let mut out = String::new();
    for decl in &parsed.file.decls {
        if let Decl::Def(def) = decl {
            out.push_str(&format!("{} = {}\n", def.name.node, sexpr(&def.value)));
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn spans_point_at_the_source() {
    let text = "policy p version \"1.0.0\"\ndef big = user.age >= 18\n";
    let parsed = bylaw::syntax::parser::parse(text, 0);
    let Decl::Def(def) = &parsed.file.decls[1] else {
        panic!("expected a def")
    };
    let span = def.value.span;
    assert_eq!(
        &text[span.start as usize..span.end as usize],
        "user.age >= 18"
    );
    assert_eq!(
        &text[def.name.span.start as usize..def.name.span.end as usize],
        "big"
    );
}

#[test]
fn unit_words_make_durations_only_on_the_same_line() {
    use bylaw::syntax::lexer::{Tok, lex};
    let toks: Vec<Tok> = lex("retain 6 months\nx > 5\ndays", 0)
        .tokens
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        toks,
        [
            Tok::Retain,
            Tok::Duration(180 * 86400),
            Tok::Ident("x"),
            Tok::Gt,
            Tok::Int(5),
            Tok::Ident("days")
        ]
    );
    let toks: Vec<Tok> = lex("30s 10m 24h 7d 2w 5% 1 year", 0)
        .tokens
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        toks,
        [
            Tok::Duration(30),
            Tok::Duration(600),
            Tok::Duration(86400),
            Tok::Duration(7 * 86400),
            Tok::Duration(14 * 86400),
            Tok::Percent(5.0),
            Tok::Duration(365 * 86400)
        ]
    );
}

#[test]
fn strings_are_utf8_with_escapes() {
    use bylaw::syntax::lexer::{Tok, lex};
    let toks: Vec<Tok> = lex(
        r#"cite "《生成式人工智能服务管理暂行办法》第十二条" "a\"b\n""#,
        0,
    )
    .tokens
    .into_iter()
    .map(|(_, t)| t)
    .collect();
    assert_eq!(
        toks,
        [
            Tok::Cite,
            Tok::Str("《生成式人工智能服务管理暂行办法》第十二条".into()),
            Tok::Str("a\"b\n".into())
        ]
    );
}

#[test]
fn keywords_may_follow_a_dot_in_field_paths() {
    let text = "policy p version \"1.0.0\"\nschema request {\n  usage.count: int\n  service: string\n}\ndeny when usage.count > 3 and service == \"x\" because \"many\"\n";
    let checked = bylaw::check_source("p.bylaw", text);
    assert!(checked.diagnostics.is_empty(), "{:?}", checked.diagnostics);
}
