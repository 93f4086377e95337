//! The built-in functions: their signatures and documentation (shown by the language
//! server and `docs/language.md`), and how a call is checked.

use std::sync::Arc;

use super::Checker;
use super::expr::{boxed, error_expr, promote, set_elem, unify_numeric};
use super::program::{Builtin, Elem, Expr, ExprKind, Ty, Value};
use crate::ast::{self, ExprKind as AstKind, Literal, Name};
use crate::builtins::pattern::Pattern;
use crate::diagnostics::{Code, Diagnostic};
use crate::syntax::span::Span;

/// A built-in function as users see it.
#[derive(Debug, Clone, Copy)]
pub struct Function {
    pub name: &'static str,
    /// How many arguments every form takes.
    pub arity: usize,
    /// Each accepted form, as `docs/language.md` writes it.
    pub signatures: &'static [&'static str],
    pub doc: &'static str,
}

pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "starts_with",
        arity: 2,
        signatures: &["starts_with(s: string, prefix: string) -> bool"],
        doc: "Whether `s` begins with `prefix` (byte for byte; every string starts with \"\").",
    },
    Function {
        name: "ends_with",
        arity: 2,
        signatures: &["ends_with(s: string, suffix: string) -> bool"],
        doc: "Whether `s` ends with `suffix`.",
    },
    Function {
        name: "contains",
        arity: 2,
        signatures: &[
            "contains(s: string, part: string) -> bool",
            "contains(items: set<T>, x: T) -> bool",
        ],
        doc: "Whether `part` occurs in `s`; on a set, whether `x` is a member (as `x in items`).",
    },
    Function {
        name: "matches",
        arity: 2,
        signatures: &["matches(s: string, \"pattern\") -> bool"],
        doc: "Whether the regular expression matches anywhere in `s` (anchor with `^…$`). The \
              pattern is a literal, compiled with the policy to an automaton; a match costs time \
              linear in the length of `s`.",
    },
    Function {
        name: "lower",
        arity: 1,
        signatures: &["lower(s: string) -> string"],
        doc: "`s` in lower case: Unicode's full mapping of each character (no final-sigma rule).",
    },
    Function {
        name: "upper",
        arity: 1,
        signatures: &["upper(s: string) -> string"],
        doc: "`s` in upper case: Unicode's full mapping of each character (`ß` becomes `SS`).",
    },
    Function {
        name: "len",
        arity: 1,
        signatures: &["len(s: string) -> int", "len(items: set<T>) -> int"],
        doc: "The number of characters (Unicode scalar values) of a string, or of distinct \
              members of a set.",
    },
    Function {
        name: "contains_any",
        arity: 2,
        signatures: &["contains_any(a: set<T>, b: set<T>) -> bool"],
        doc: "Whether `a` and `b` share a member (false when either is empty).",
    },
    Function {
        name: "contains_all",
        arity: 2,
        signatures: &["contains_all(a: set<T>, b: set<T>) -> bool"],
        doc: "Whether every member of `b` is in `a` (true when `b` is empty).",
    },
    Function {
        name: "is_subset",
        arity: 2,
        signatures: &["is_subset(a: set<T>, b: set<T>) -> bool"],
        doc: "Whether every member of `a` is in `b`: `contains_all(b, a)`.",
    },
    Function {
        name: "intersects",
        arity: 2,
        signatures: &["intersects(a: set<T>, b: set<T>) -> bool"],
        doc: "Whether `a` and `b` share a member: `contains_any(a, b)`.",
    },
    Function {
        name: "abs",
        arity: 1,
        signatures: &["abs(x: N) -> N"],
        doc: "The absolute value of an `int`, `float`, `duration` or `percent`; `abs` of the \
              smallest `int` overflows and fails closed.",
    },
    Function {
        name: "min",
        arity: 2,
        signatures: &["min(a: N, b: N) -> N"],
        doc: "The smaller of two numbers of one type (`int` with `float` gives `float`): `b` when \
              `b < a`, else `a`.",
    },
    Function {
        name: "max",
        arity: 2,
        signatures: &["max(a: N, b: N) -> N"],
        doc: "The larger of two numbers of one type: `b` when `b > a`, else `a`.",
    },
    Function {
        name: "float",
        arity: 1,
        signatures: &["float(i: int) -> float"],
        doc: "The `float` nearest to `i`.",
    },
    Function {
        name: "date",
        arity: 1,
        signatures: &["date(\"2026-08-02\") -> timestamp"],
        doc: "Midnight UTC of the day written (a literal); a whole RFC 3339 timestamp with an \
              offset is read as that instant.",
    },
    Function {
        name: "hour_of_day",
        arity: 2,
        signatures: &["hour_of_day(t: timestamp, \"Asia/Shanghai\") -> int"],
        doc: "The hour (0–23) of `t` on the clocks of an IANA time zone (a literal), with its \
              daylight-saving rules.",
    },
    Function {
        name: "weekday",
        arity: 2,
        signatures: &["weekday(t: timestamp, \"Europe/Paris\") -> Weekday"],
        doc: "The day of the week of `t` in an IANA time zone: a member of \
              `Weekday { mon, tue, wed, thu, fri, sat, sun }`.",
    },
    Function {
        name: "int",
        arity: 1,
        signatures: &["int(f: float) -> int"],
        doc: "`f` truncated toward zero; a value outside the `int` range fails closed.",
    },
];

pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

impl Checker<'_> {
    pub(super) fn call(&mut self, name: &Name, args: &[ast::Expr], span: Span) -> Expr {
        let Some(function) = function(&name.node) else {
            let diag = Diagnostic::error(
                Code::UnknownFunction,
                format!("unknown function `{}`", name.node),
                name.span,
                "not a built-in function",
            );
            self.error(super::with_suggestion(
                diag,
                &name.node,
                FUNCTIONS.iter().map(|f| f.name),
            ));
            self.type_silently(args);
            return error_expr(span);
        };
        let wanted = function.arity;
        if args.len() != wanted {
            self.error(
                Diagnostic::error(
                    Code::ArgumentCount,
                    format!(
                        "`{}` takes {wanted} argument{}, found {}",
                        function.name,
                        if wanted == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                    format!("{} given", args.len()),
                )
                .with_help(format!("write {}", function.signatures.join(" or "))),
            );
            self.type_silently(args);
            return error_expr(span);
        }
        match function.name {
            "starts_with" | "ends_with" | "matches" | "lower" | "upper" => {
                self.string_call(function.name, args, span)
            }
            "contains" => self.contains_call(args, span),
            "len" => self.len_call(args, span),
            "contains_any" | "contains_all" | "is_subset" | "intersects" => {
                self.set_relation(function.name, args, span)
            }
            "date" | "hour_of_day" | "weekday" => self.time_call(function.name, args, span),
            _ => self.number_call(function.name, args, span),
        }
    }

    /// Types arguments only for their own diagnostics, when the call itself is wrong.
    fn type_silently(&mut self, args: &[ast::Expr]) {
        for arg in args {
            if !matches!(arg.kind, AstKind::SetLit(_)) {
                self.expr(arg, None);
            }
        }
    }

    fn wrong_argument(&mut self, function: &str, what: &str, arg: &Expr) -> Expr {
        let found = self.type_name(arg.ty);
        self.error(
            Diagnostic::error(
                Code::InvalidArgument,
                format!("`{function}` takes {what}, found `{found}`"),
                arg.span,
                format!("this is `{found}`"),
            )
            .with_help(signature_help(function)),
        );
        error_expr(arg.span)
    }

    /// Two arguments that must share a type and do not.
    fn mismatched_pair(
        &mut self,
        function: &str,
        what: &str,
        [x, y]: [&Expr; 2],
        label: &str,
        span: Span,
    ) -> Expr {
        let (xt, yt) = (self.type_name(x.ty), self.type_name(y.ty));
        self.error(
            Diagnostic::error(
                Code::InvalidArgument,
                format!("`{function}` takes two {what} of one type, found `{xt}` and `{yt}`"),
                span,
                label,
            )
            .with_label(x.span, format!("this is `{xt}`"))
            .with_label(y.span, format!("this is `{yt}`")),
        );
        error_expr(span)
    }

    fn string_arg(&mut self, function: &str, arg: &ast::Expr) -> Expr {
        let typed = self.expr(arg, Some(Ty::Str));
        if typed.ty == Ty::Str || typed.ty == Ty::Error {
            typed
        } else {
            self.wrong_argument(function, "a `string`", &typed)
        }
    }

    fn string_call(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Expr {
        let mut typed: Vec<Expr> = Vec::with_capacity(args.len());
        let builtin = match (name, args) {
            ("lower", [s]) => {
                typed.push(self.string_arg(name, s));
                Builtin::Lower
            }
            ("upper", [s]) => {
                typed.push(self.string_arg(name, s));
                Builtin::Upper
            }
            ("matches", [s, pattern]) => {
                typed.push(self.string_arg(name, s));
                match self.pattern(pattern) {
                    Some(index) => Builtin::Matches(index),
                    None => return error_expr(span),
                }
            }
            (_, [s, x]) => {
                typed.push(self.string_arg(name, s));
                typed.push(self.string_arg(name, x));
                if name == "starts_with" {
                    Builtin::StartsWith
                } else {
                    Builtin::EndsWith
                }
            }
            _ => return error_expr(span),
        };
        let ty = match builtin {
            Builtin::Lower | Builtin::Upper => Ty::Str,
            _ => Ty::Bool,
        };
        finish(builtin, typed, ty, span)
    }

    /// Compiles a `matches` pattern, which must be a string literal.
    fn pattern(&mut self, arg: &ast::Expr) -> Option<usize> {
        let AstKind::Lit(Literal::Str(source)) = &arg.kind else {
            let typed = self.expr(arg, None);
            if typed.ty != Ty::Error {
                self.error(
                    Diagnostic::error(
                        Code::InvalidPattern,
                        "the pattern of `matches` must be a string literal",
                        arg.span,
                        "not a literal",
                    )
                    .with_help("patterns are compiled with the policy, so they are written out"),
                );
            }
            return None;
        };
        if let Some(i) = self.patterns.iter().position(|p| &p.source == source) {
            return Some(i);
        }
        match Pattern::compile(source) {
            Ok(pattern) => {
                self.patterns.push(Arc::new(pattern));
                Some(self.patterns.len() - 1)
            }
            Err(reason) => {
                self.error(
                    Diagnostic::error(
                        Code::InvalidPattern,
                        "invalid pattern",
                        arg.span,
                        first_line(&reason),
                    )
                    .with_help(reason.clone()),
                );
                None
            }
        }
    }

    fn contains_call(&mut self, args: &[ast::Expr], span: Span) -> Expr {
        let [a, b] = args else {
            return error_expr(span);
        };
        let first = self.expr(a, None);
        if first.ty == Ty::Error {
            self.expr(b, None);
            return error_expr(span);
        }
        if let Some(elem_ty) = set_elem(first.ty) {
            let elem = self.expr(b, Some(elem_ty));
            if elem.ty == Ty::Error {
                return error_expr(span);
            }
            if elem.ty != elem_ty {
                let what = format!("a `{}` to look for", self.type_name(elem_ty));
                return self.wrong_argument("contains", &what, &elem);
            }
            return Expr {
                kind: ExprKind::InSet(boxed(elem), boxed(first)),
                ty: Ty::Bool,
                span,
            };
        }
        if first.ty != Ty::Str {
            self.expr(b, None);
            return self.wrong_argument("contains", "a `string` or a set", &first);
        }
        let part = self.string_arg("contains", b);
        finish(Builtin::Contains, vec![first, part], Ty::Bool, span)
    }

    fn len_call(&mut self, args: &[ast::Expr], span: Span) -> Expr {
        let [a] = args else {
            return error_expr(span);
        };
        if let AstKind::SetLit(_) = a.kind {
            let set = self.set_arg("len", a, None);
            return finish(Builtin::SetLen, vec![set], Ty::Int, span);
        }
        let typed = self.expr(a, None);
        match typed.ty {
            Ty::Error => error_expr(span),
            Ty::Str => finish(Builtin::StrLen, vec![typed], Ty::Int, span),
            Ty::Set(_) => finish(Builtin::SetLen, vec![typed], Ty::Int, span),
            _ => self.wrong_argument("len", "a `string` or a set", &typed),
        }
    }

    fn set_relation(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Expr {
        let [a, b] = args else {
            return error_expr(span);
        };
        // Type the side that is not a literal first: its element type decides the
        // literal's bare members and an empty `{}`.
        let is_literal = |e: &ast::Expr| matches!(e.kind, AstKind::SetLit(_));
        let is_empty_literal =
            |e: &ast::Expr| matches!(&e.kind, AstKind::SetLit(items) if items.is_empty());
        let literal_first = is_literal(a) && (!is_literal(b) || is_empty_literal(a));
        let (first, second) = if literal_first { (b, a) } else { (a, b) };
        let typed_first = self.set_arg(name, first, None);
        let elem = match typed_first.ty {
            Ty::Set(elem) => Some(elem),
            _ => None,
        };
        let typed_second = self.set_arg(name, second, elem);
        if typed_first.ty == Ty::Error || typed_second.ty == Ty::Error {
            return error_expr(span);
        }
        if typed_first.ty != typed_second.ty {
            return self.mismatched_pair(
                name,
                "sets",
                [&typed_first, &typed_second],
                "different element types",
                span,
            );
        }
        let args = if literal_first {
            vec![typed_second, typed_first]
        } else {
            vec![typed_first, typed_second]
        };
        let builtin = match name {
            "contains_any" => Builtin::ContainsAny,
            "contains_all" => Builtin::ContainsAll,
            "is_subset" => Builtin::IsSubset,
            _ => Builtin::Intersects,
        };
        finish(builtin, args, Ty::Bool, span)
    }

    /// A set argument: a `set<…>` expression, or a literal of constants (`{"a", "b"}`,
    /// `{red, blue}`) whose element type `elem` gives when the literal cannot.
    fn set_arg(&mut self, function: &str, arg: &ast::Expr, elem: Option<Elem>) -> Expr {
        let AstKind::SetLit(items) = &arg.kind else {
            let typed = self.expr(arg, None);
            return match typed.ty {
                Ty::Set(_) | Ty::Error => typed,
                _ => self.wrong_argument(function, "a set", &typed),
            };
        };
        let expected = elem.map(|e| match e {
            Elem::Enum(id) => Ty::Enum(id),
            Elem::Str => Ty::Str,
        });
        let mut values = Vec::with_capacity(items.len());
        let mut elem_ty = expected;
        let mut failed = false;
        for item in items {
            let typed = self.expr(item, elem_ty);
            if typed.ty == Ty::Error {
                failed = true;
                continue;
            }
            let constant = match (&typed.kind, typed.ty) {
                (ExprKind::Const(v), Ty::Str | Ty::Enum(_)) => Some(v.clone()),
                _ => None,
            };
            let Some(value) = constant else {
                self.error(
                    Diagnostic::error(
                        Code::InvalidArgument,
                        format!(
                            "a set literal given to `{function}` holds string or enum constants"
                        ),
                        typed.span,
                        "not a string or enum constant",
                    )
                    .with_help("test a field's value with `x in {a, b}` instead"),
                );
                failed = true;
                continue;
            };
            match elem_ty {
                Some(want) if want != typed.ty => {
                    let (wt, ft) = (self.type_name(want), self.type_name(typed.ty));
                    self.error(Diagnostic::error(
                        Code::TypeMismatch,
                        format!("expected `{wt}`, found `{ft}`"),
                        typed.span,
                        format!("this is `{ft}`"),
                    ));
                    failed = true;
                    continue;
                }
                _ => elem_ty = Some(typed.ty),
            }
            if !values.contains(&value) {
                values.push(value);
            }
        }
        if failed {
            return error_expr(arg.span);
        }
        let elem = match elem_ty {
            Some(Ty::Str) => Elem::Str,
            Some(Ty::Enum(id)) => Elem::Enum(id),
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::UntypedSet,
                        "the type of this empty set cannot be inferred",
                        arg.span,
                        "`{}` of what?",
                    )
                    .with_help("give the other argument a set field's type"),
                );
                return error_expr(arg.span);
            }
        };
        Expr {
            kind: ExprKind::Const(Value::Set(values)),
            ty: Ty::Set(elem),
            span: arg.span,
        }
    }

    fn number_call(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Expr {
        match (name, args) {
            ("abs", [x]) => {
                let typed = self.expr(x, None);
                if typed.ty == Ty::Error {
                    return error_expr(span);
                }
                if !typed.ty.is_ordered() || typed.ty == Ty::Timestamp {
                    return self.wrong_argument(name, "a number", &typed);
                }
                let ty = typed.ty;
                finish(Builtin::Abs, vec![typed], ty, span)
            }
            ("min" | "max", [a, b]) => {
                let (x, y) = (self.expr(a, None), self.expr(b, None));
                if x.ty == Ty::Error || y.ty == Ty::Error {
                    return error_expr(span);
                }
                for arg in [&x, &y] {
                    if !arg.ty.is_ordered() {
                        return self.wrong_argument(name, "numbers", arg);
                    }
                }
                let (x, y) = match unify_numeric(x, y) {
                    Ok(pair) => pair,
                    Err((x, y)) => {
                        return self.mismatched_pair(
                            name,
                            "numbers",
                            [&x, &y],
                            "different types",
                            span,
                        );
                    }
                };
                let ty = x.ty;
                let builtin = if name == "min" {
                    Builtin::Min
                } else {
                    Builtin::Max
                };
                finish(builtin, vec![x, y], ty, span)
            }
            ("float", [i]) => {
                let typed = self.expr(i, None);
                match typed.ty {
                    Ty::Error => error_expr(span),
                    Ty::Float => typed,
                    Ty::Int => {
                        let mut promoted = promote(typed);
                        promoted.span = span;
                        promoted
                    }
                    _ => self.wrong_argument(name, "an `int`", &typed),
                }
            }
            ("int", [f]) => {
                let typed = self.expr(f, None);
                match typed.ty {
                    Ty::Error => error_expr(span),
                    Ty::Int => typed,
                    Ty::Float => finish(Builtin::FloatToInt, vec![typed], Ty::Int, span),
                    _ => self.wrong_argument(name, "a `float`", &typed),
                }
            }
            _ => error_expr(span),
        }
    }

    fn time_call(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Expr {
        match (name, args) {
            ("date", [text]) => {
                let Some((source, lit_span)) = self.literal_text(name, text) else {
                    return error_expr(span);
                };
                match crate::builtins::time::parse_date(&source) {
                    Ok(secs) => Expr {
                        kind: ExprKind::Const(Value::Timestamp(secs)),
                        ty: Ty::Timestamp,
                        span,
                    },
                    Err(reason) => {
                        self.error(Diagnostic::error(
                            Code::InvalidTimestamp,
                            "invalid date",
                            lit_span,
                            reason,
                        ));
                        error_expr(span)
                    }
                }
            }
            (_, [t, zone]) => {
                let typed = self.expr(t, Some(Ty::Timestamp));
                let zone = self.zone(name, zone);
                if typed.ty == Ty::Error {
                    return error_expr(span);
                }
                if typed.ty != Ty::Timestamp {
                    return self.wrong_argument(name, "a `timestamp`", &typed);
                }
                let Some(zone) = zone else {
                    return error_expr(span);
                };
                if name == "hour_of_day" {
                    return finish(Builtin::HourOfDay(zone), vec![typed], Ty::Int, span);
                }
                match self.weekday_enum(span) {
                    Some(id) => finish(Builtin::Weekday(zone), vec![typed], Ty::Enum(id), span),
                    None => error_expr(span),
                }
            }
            _ => error_expr(span),
        }
    }

    /// A string literal argument's text, or an error saying it must be one.
    fn literal_text(&mut self, function: &str, arg: &ast::Expr) -> Option<(String, Span)> {
        if let AstKind::Lit(Literal::Str(text)) = &arg.kind {
            return Some((text.clone(), arg.span));
        }
        let typed = self.expr(arg, None);
        if typed.ty != Ty::Error {
            self.error(
                Diagnostic::error(
                    Code::InvalidArgument,
                    format!("`{function}` takes a string literal"),
                    arg.span,
                    "not a literal",
                )
                .with_help(signature_help(function)),
            );
        }
        None
    }

    /// Loads a time zone named by a literal (once per policy).
    fn zone(&mut self, function: &str, arg: &ast::Expr) -> Option<usize> {
        let (name, span) = self.literal_text(function, arg)?;
        if let Some(i) = self.zones.iter().position(|z| z.name == name) {
            return Some(i);
        }
        match crate::builtins::time::Zone::load(&name) {
            Ok(zone) => {
                self.zones.push(zone);
                Some(self.zones.len() - 1)
            }
            Err(reason) => {
                let names = crate::builtins::time::zone_names();
                let diag = Diagnostic::error(
                    Code::UnknownTimeZone,
                    format!("unknown time zone `{name}`"),
                    span,
                    reason,
                );
                self.error(super::with_suggestion(
                    diag,
                    &name,
                    names.iter().map(String::as_str),
                ));
                None
            }
        }
    }

    /// The `Weekday` enum `weekday` returns: the policy's own if it declares one with
    /// the seven members in order, else declared here on first use.
    fn weekday_enum(&mut self, span: Span) -> Option<usize> {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        if let Some(&id) = self.enum_by_name.get("Weekday") {
            let same = self
                .enums
                .get(id)
                .is_some_and(|e| e.members.iter().map(String::as_str).eq(DAYS));
            if !same {
                self.error(
                    Diagnostic::error(
                        Code::InvalidArgument,
                        "`weekday` returns `Weekday { mon, tue, wed, thu, fri, sat, sun }`, but \
                         this policy declares another `Weekday`",
                        span,
                        "returns the built-in `Weekday`",
                    )
                    .with_help("rename your enum, or declare it with those seven members in order"),
                );
                return None;
            }
            return Some(id);
        }
        let id = self.enums.len();
        self.enum_by_name.insert("Weekday".to_string(), id);
        self.enums.push(super::program::EnumDef {
            name: "Weekday".to_string(),
            members: DAYS.iter().map(|d| d.to_string()).collect(),
            span,
        });
        Some(id)
    }

    /// Whether `e` is a string that a function computed (`lower`, `upper`), directly or
    /// through `def`s: such a string has no interned id.
    pub(super) fn is_computed_string(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Call(Builtin::Lower | Builtin::Upper, _) => true,
            ExprKind::Def(id) => self
                .def_exprs
                .get(*id)
                .and_then(Option::as_ref)
                .is_some_and(|body| self.is_computed_string(body)),
            _ => false,
        }
    }
}

fn finish(builtin: Builtin, args: Vec<Expr>, ty: Ty, span: Span) -> Expr {
    if args.iter().any(|a| a.ty == Ty::Error) {
        return error_expr(span);
    }
    Expr {
        kind: ExprKind::Call(builtin, args),
        ty,
        span,
    }
}

fn signature_help(name: &str) -> String {
    match function(name) {
        Some(f) => format!("`{}`", f.signatures.join("` or `")),
        None => String::new(),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map_or("does not compile", |l| l.trim_start_matches("error: "))
        .to_string()
}
