//! `bylaw fmt`: one canonical layout for a policy, from its syntax tree and comments.
//!
//! The layout: two-space indentation; one item per line inside blocks; rules, tier
//! entries and schema fields on one line each, continued on indented lines only when
//! longer than [`WIDTH`]; a blank line between declarations that span several lines,
//! and blank lines that the author put between items kept (several collapse to one).
//! Literals are printed as written (`6 months`, `0.80`, `"…"`), so formatting never
//! changes a value. Every comment is kept: a comment on its own line stays before the
//! item that follows it; a comment after an item on the same line stays there.
//! Formatting is idempotent, and the formatted program checks to the same IR.

use crate::ast::*;
use crate::syntax::parser::Comment;
use crate::syntax::span::Span;

/// The width past which a rule, a tier entry or a condition is broken over lines.
pub const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Formats a parsed file. `source` is the text the spans point into, starting at
/// global offset `base`.
pub fn format(file: &File, comments: &[Comment], source: &str, base: u32) -> String {
    let mut f = Formatter {
        source,
        base,
        comments,
        next_comment: 0,
        out: String::new(),
        depth: 0,
        last_end: None,
    };
    let mut previous_multiline = false;
    for decl in &file.decls {
        let span = decl.span();
        let multiline = is_block(decl);
        let force_blank = f.last_end.is_some() && (multiline || previous_multiline);
        f.item(span, force_blank, |f| f.decl(decl));
        previous_multiline = multiline;
    }
    f.own_line_comments(u32::MAX);
    if !f.out.ends_with('\n') && !f.out.is_empty() {
        f.out.push('\n');
    }
    f.out
}

struct Formatter<'a> {
    source: &'a str,
    base: u32,
    comments: &'a [Comment],
    next_comment: usize,
    out: String,
    depth: usize,
    /// Where the last printed item (or comment) ended in the source; `None` at the start
    /// of the file or of a block.
    last_end: Option<u32>,
}

fn is_block(decl: &Decl) -> bool {
    !matches!(
        decl,
        Decl::Policy(_)
            | Decl::Use(_)
            | Decl::Enum(_)
            | Decl::Def(_)
            | Decl::Default(_)
            | Decl::Rule(_)
    )
}

impl<'a> Formatter<'a> {
    fn text(&self, span: Span) -> &'a str {
        let start = span.start.saturating_sub(self.base) as usize;
        let end = span.end.saturating_sub(self.base) as usize;
        self.source.get(start..end).unwrap_or("")
    }

    /// A literal as written, with runs of spaces inside (`6   months`) made one.
    fn literal(&self, span: Span) -> String {
        let text = self.text(span);
        if text.starts_with('"') {
            return text.to_string();
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Whether the source has a blank line between two offsets.
    fn blank_between(&self, from: u32, to: u32) -> bool {
        let from = from.saturating_sub(self.base) as usize;
        let to = to.saturating_sub(self.base) as usize;
        let Some(gap) = self.source.get(from..to) else {
            return false;
        };
        let lines: Vec<&str> = gap.split('\n').collect();
        lines.len() > 2
            && lines[1..lines.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    fn same_line(&self, from: u32, to: u32) -> bool {
        let from = from.saturating_sub(self.base) as usize;
        let to = to.saturating_sub(self.base) as usize;
        self.source
            .get(from..to)
            .is_some_and(|gap| !gap.contains('\n'))
    }

    fn indent(&self) -> String {
        INDENT.repeat(self.depth)
    }

    fn line(&mut self, text: &str) {
        if text.is_empty() {
            self.out.push('\n');
        } else {
            let indent = self.indent();
            self.out.push_str(&indent);
            self.out.push_str(text);
            self.out.push('\n');
        }
    }

    fn blank(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with("\n\n") && !self.out.ends_with("{\n") {
            self.out.push('\n');
        }
    }

    /// Comments before `upto` not printed yet, each on its own line.
    fn own_line_comments(&mut self, upto: u32) {
        while let Some(comment) = self.comments.get(self.next_comment) {
            if comment.span.start >= upto {
                break;
            }
            if let Some(end) = self.last_end
                && self.blank_between(end, comment.span.start)
            {
                self.blank();
            }
            let text = comment.text.trim_end().to_string();
            self.line(&text);
            self.last_end = Some(comment.span.end);
            self.next_comment += 1;
        }
    }

    /// A comment that starts on the line where the item just printed ended.
    fn trailing_comment(&mut self, end: u32) {
        if let Some(comment) = self.comments.get(self.next_comment)
            && comment.span.start >= end
            && self.same_line(end, comment.span.start)
        {
            if self.out.ends_with('\n') {
                self.out.pop();
            }
            self.out.push_str("  ");
            self.out.push_str(comment.text.trim_end());
            self.out.push('\n');
            self.last_end = Some(comment.span.end);
            self.next_comment += 1;
        }
    }

    /// One item on its own line(s), with the comments around it.
    fn item(&mut self, span: Span, force_blank: bool, print: impl FnOnce(&mut Self)) {
        // A block's blank line goes before the comments that lead into it (the run
        // right above it, with no blank line in between), so that they stay attached
        // to it; comments above that run stay with what comes before.
        if force_blank {
            let leading = self.leading_run(span.start);
            self.own_line_comments(leading);
            self.blank();
        }
        self.own_line_comments(span.start);
        let author_blank = self
            .last_end
            .is_some_and(|end| self.blank_between(end, span.start));
        if author_blank {
            self.blank();
        }
        print(self);
        self.last_end = Some(span.end);
        // The comment at the end of the item's last line stays there; comments inside
        // the item come out after it, each on its own line.
        let inside = self.next_comment;
        let mut after = inside;
        while self
            .comments
            .get(after)
            .is_some_and(|c| c.span.start < span.end)
        {
            after += 1;
        }
        self.next_comment = after;
        self.trailing_comment(span.end);
        for comment in &self.comments[inside..after] {
            let line = format!("{}{}\n", self.indent(), comment.text.trim_end());
            self.out.push_str(&line);
        }
    }

    /// Where the run of comments that leads into an item starting at `start` begins:
    /// the comments not yet printed before `start` with no blank line between them and
    /// the item. `start` itself when there is none.
    fn leading_run(&self, start: u32) -> u32 {
        let pending = &self.comments[self.next_comment.min(self.comments.len())..];
        let before = pending.iter().take_while(|c| c.span.start < start).count();
        let mut run = start;
        for comment in pending[..before].iter().rev() {
            if self.blank_between(comment.span.end, run) {
                break;
            }
            run = comment.span.start;
        }
        run
    }

    /// `header {`, the items, then `}` — with comments before the brace kept inside.
    fn block(&mut self, header: &str, span: Span, items: impl FnOnce(&mut Self)) {
        self.line(&format!("{header} {{"));
        self.depth += 1;
        let outer = self.last_end.take();
        items(self);
        self.own_line_comments(span.end.saturating_sub(1));
        self.depth -= 1;
        self.line("}");
        self.last_end = outer;
    }

    fn decl(&mut self, decl: &Decl) {
        match decl {
            Decl::Policy(d) => {
                let line = format!(
                    "policy {} version {}",
                    d.name.node,
                    self.literal(d.version.span)
                );
                self.line(&line);
            }
            Decl::Use(d) => {
                let mut line = format!("use {}", d.written());
                if !d.overrides.is_empty() {
                    let values: Vec<String> = d
                        .overrides
                        .iter()
                        .map(|v| format!("{}: {}", v.path.dotted(), self.expr(&v.value)))
                        .collect();
                    line.push_str(&format!(" {{ {} }}", values.join(", ")));
                }
                self.line(&line);
            }
            Decl::Enum(d) => {
                let members: Vec<&str> = d.members.iter().map(|m| m.node.as_str()).collect();
                self.line(&format!(
                    "enum {} {{ {} }}",
                    d.name.node,
                    members.join(", ")
                ));
            }
            Decl::Schema(d) => self.block(&format!("schema {}", d.name.node), d.span, |f| {
                f.field_lines(&d.fields);
            }),
            Decl::Event(d) => self.block(&format!("event {}", d.name.node), d.span, |f| {
                f.field_lines(&d.fields);
            }),
            Decl::Def(d) => {
                let ty =
                    d.ty.as_ref()
                        .map(|t| format!(": {}", type_text(t)))
                        .unwrap_or_default();
                let head = format!("def {}{ty} = ", d.name.node);
                self.condition_line(&head, &d.value, &[]);
            }
            Decl::Tiers(d) => self.block("tiers", d.span, |f| {
                let width = d
                    .entries
                    .iter()
                    .map(|e| e.name.node.len())
                    .max()
                    .unwrap_or(0);
                for entry in &d.entries {
                    f.item(entry.span, false, |f| f.tier_entry(entry, width));
                }
            }),
            Decl::Default(d) => self.line(&format!("default {}", d.outcome.node.as_str())),
            Decl::Rule(d) => {
                let head = match &d.name {
                    Some(name) => format!("{} {} when ", d.outcome.node.as_str(), name.node),
                    None => format!("{} when ", d.outcome.node.as_str()),
                };
                let mut tail = vec![format!("because {}", self.literal(d.because.span))];
                if let Some(cite) = &d.cite {
                    tail.push(format!("cite {}", self.literal(cite.span)));
                }
                if let Some(effective) = &d.effective {
                    tail.push(self.effective(effective));
                }
                self.condition_line(&head, &d.when, &tail);
            }
            Decl::Clock(d) => self.line(&format!("clock {}", d.path.dotted())),
            Decl::Duty(d) => self.block(&format!("duty {}", d.name.node), d.span, |f| {
                for item in &d.items {
                    f.item(item.span(), false, |f| f.duty_item(item));
                }
            }),
            Decl::Trigger(d) => self.block(&format!("trigger {}", d.name.node), d.span, |f| {
                let kind = match d.kind.node {
                    WindowKind::Count => "count",
                    WindowKind::Rate => "rate",
                };
                let by =
                    d.by.as_ref()
                        .map(|p| format!(" by {}", p.dotted()))
                        .unwrap_or_default();
                let min = d
                    .min
                    .as_ref()
                    .map(|(word, n)| format!(" {} {}", word.node, f.literal(n.span)))
                    .unwrap_or_default();
                let filter = d
                    .filter
                    .as_ref()
                    .map(|e| format!(" where {}", f.expr(e)))
                    .unwrap_or_default();
                let when = format!(
                    "when {kind}({}{filter}) within {}{by}{min} {} {}",
                    f.expr(&d.cond),
                    f.literal(d.within.span),
                    d.op.node.as_str(),
                    f.literal(d.threshold.span)
                );
                f.line(&when);
                let actions: Vec<String> = d.actions.iter().map(|a| f.action(a)).collect();
                f.line(&format!("then {}", actions.join(", ")));
                if let Some(cite) = &d.cite {
                    let line = format!("cite {}", f.literal(cite.span));
                    f.line(&line);
                }
                if let Some(effective) = &d.effective {
                    let line = f.effective(effective);
                    f.line(&line);
                }
            }),
            Decl::Service(d) => self.block(&format!("service {}", d.name.node), d.span, |f| {
                for item in &d.items {
                    match item {
                        ServiceItem::Fallback(text, span) => f.item(*span, false, |f| {
                            let line = format!("fallback {}", f.literal(text.span));
                            f.line(&line);
                        }),
                        ServiceItem::Recovery(items, span) => f.item(*span, false, |f| {
                            f.block("recovery", *span, |f| {
                                for item in items {
                                    f.item(item.span(), false, |f| f.recovery_item(item));
                                }
                            })
                        }),
                        ServiceItem::Cite(text, span) => f.item(*span, false, |f| {
                            let line = format!("cite {}", f.literal(text.span));
                            f.line(&line);
                        }),
                    }
                }
            }),
            Decl::Fixture(d) => self.block(&format!("fixture {}", d.name.node), d.span, |f| {
                f.field_values(&d.values);
            }),
            Decl::Test(d) => {
                let header = format!("test {}", self.literal(d.name.span));
                self.block(&header, d.span, |f| {
                    if d.overrides.is_empty() {
                        f.line(&format!("given {}", d.given.node));
                    } else {
                        let inline: Vec<String> = d
                            .overrides
                            .iter()
                            .map(|v| format!("{}: {}", v.path.dotted(), f.expr(&v.value)))
                            .collect();
                        let one_line =
                            format!("given {} {{ {} }}", d.given.node, inline.join(", "));
                        let has_comments = f
                            .comments
                            .get(f.next_comment)
                            .is_some_and(|c| c.span.start < d.outcome.span.start);
                        if f.indent().len() + one_line.len() <= WIDTH && !has_comments {
                            f.line(&one_line);
                        } else {
                            f.block(&format!("given {}", d.given.node), d.span, |f| {
                                f.field_values(&d.overrides);
                            });
                        }
                    }
                    let mut expect = format!("expect {}", d.outcome.node.as_str());
                    for e in &d.expectations {
                        match e {
                            Expectation::Tier(n) => expect.push_str(&format!(", tier {}", n.node)),
                            Expectation::Duty(n) => expect.push_str(&format!(", duty {}", n.node)),
                            Expectation::Rule(w, n) => {
                                expect.push_str(&format!(", {} {}", w.node, n.node))
                            }
                        }
                    }
                    f.line(&expect);
                })
            }
            Decl::Assert(d) => {
                let header = format!("assert {}", self.literal(d.name.span));
                self.block(&header, d.span, |f| {
                    f.condition_line("when ", &d.when, &[]);
                    let expect: Vec<String> = d.expect.iter().map(assert_expect).collect();
                    f.line(&format!("expect {}", expect.join(", ")));
                })
            }
        }
    }

    fn field_values(&mut self, values: &[FieldValue]) {
        for value in values {
            self.item(value.span, false, |f| {
                let line = format!("{}: {},", value.path.dotted(), f.expr(&value.value));
                f.line(&line);
            });
        }
    }

    fn tier_entry(&mut self, entry: &TierEntry, width: usize) {
        let name = format!("{:<width$}", entry.name.node);
        let cite: Vec<String> = entry
            .cite
            .iter()
            .map(|c| format!("cite {}", self.literal(c.span)))
            .collect();
        match &entry.when {
            Some(cond) => self.condition_line(&format!("{name} when "), cond, &cite),
            None => {
                let mut line = format!("{name} otherwise");
                for c in cite {
                    line.push(' ');
                    line.push_str(&c);
                }
                self.line(&line);
            }
        }
    }

    /// `effective from E [until E]`, the contextual words as written.
    fn effective(&self, e: &Effective) -> String {
        let mut text = format!("effective {} {}", e.from_word.node, self.expr(&e.from));
        if let Some((word, until)) = &e.until {
            text.push_str(&format!(" {} {}", word.node, self.expr(until)));
        }
        text
    }

    fn duty_item(&mut self, item: &DutyItem) {
        match item {
            DutyItem::Effective(e) => {
                let line = self.effective(e);
                self.line(&line);
            }
            DutyItem::AppliesToTier(tiers, _) => {
                let names: Vec<&str> = tiers.iter().map(|t| t.node.as_str()).collect();
                self.line(&format!("applies to tier {}", names.join(", ")));
            }
            DutyItem::AppliesWhen(cond, _) => self.condition_line("applies when ", cond, &[]),
            DutyItem::Require {
                cond,
                outcome,
                message,
                ..
            } => {
                let tail = vec![format!(
                    "else {} {}",
                    outcome.node.as_str(),
                    self.literal(message.span)
                )];
                self.condition_line("require ", cond, &tail);
            }
            DutyItem::Retain(d, _) => {
                let line = format!("retain {}", self.literal(d.span));
                self.line(&line);
            }
            DutyItem::RetainDef(name, _) => self.line(&format!("retain {}", name.node)),
            DutyItem::Report {
                recipient, within, ..
            } => {
                let line = format!(
                    "report {} within {}",
                    self.literal(recipient.span),
                    self.literal(within.span)
                );
                self.line(&line);
            }
            DutyItem::Notice(text, _) => {
                let line = format!("notice {}", self.literal(text.span));
                self.line(&line);
            }
            DutyItem::Cite(text, _) => {
                let line = format!("cite {}", self.literal(text.span));
                self.line(&line);
            }
        }
    }

    fn field_lines(&mut self, fields: &[crate::ast::FieldDecl]) {
        for field in fields {
            self.item(field.span, false, |f| {
                let mut line = format!("{}: {}", field.path.dotted(), type_text(&field.ty));
                if let Some(default) = &field.default {
                    line.push_str(&format!(" = {}", f.expr(default)));
                }
                if field.sensitive {
                    line.push_str(" sensitive");
                }
                f.line(&line);
            });
        }
    }

    fn recovery_item(&mut self, item: &RecoveryItem) {
        let line = match item {
            RecoveryItem::Cooldown(d, _) => format!("cooldown {}", self.literal(d.span)),
            RecoveryItem::Approve(role, _) => format!("approve by {}", self.literal(role.span)),
            RecoveryItem::Ramp { stages, every, .. } => {
                let stages: Vec<String> = stages.iter().map(|s| self.literal(s.span)).collect();
                format!(
                    "ramp {} every {}",
                    stages.join(", "),
                    self.literal(every.span)
                )
            }
            RecoveryItem::Timeout(d, _) => format!("timeout {}", self.literal(d.span)),
            RecoveryItem::RequireReport(word, _) => format!("require report {}", word.node),
        };
        self.line(&line);
    }

    fn action(&self, action: &Action) -> String {
        match &action.kind {
            ActionKind::Suspend { service, for_ } => match for_ {
                Some(d) => format!("suspend {} for {}", service.node, self.literal(d.span)),
                None => format!("suspend {}", service.node),
            },
            ActionKind::Degrade { service } => format!("degrade {}", service.node),
            ActionKind::Notify { channel } => format!("notify {}", self.literal(channel.span)),
            ActionKind::Report {
                recipient,
                within,
                per,
            } => format!(
                "report {} within {}{}",
                self.literal(recipient.span),
                self.literal(within.span),
                per.as_ref()
                    .map(|word| format!(" {} event", word.node))
                    .unwrap_or_default()
            ),
            ActionKind::Block { key, for_ } => {
                format!("block {} for {}", key.dotted(), self.literal(for_.span))
            }
        }
    }

    /// `head COND tail…` on one line if it fits; else the tail on continuation lines,
    /// and a long condition broken before each top-level `or` (or `and`).
    fn condition_line(&mut self, head: &str, cond: &Expr, tail: &[String]) {
        let flat = format!("{head}{}", self.expr(cond));
        let mut one = flat.clone();
        for t in tail {
            one.push(' ');
            one.push_str(t);
        }
        if self.indent().len() + one.len() <= WIDTH {
            self.line(&one);
            return;
        }
        let continuation = format!("{}{INDENT}{INDENT}", self.indent());
        if self.indent().len() + flat.len() <= WIDTH {
            self.line(&flat);
        } else {
            let parts = self.broken(cond);
            let mut first = true;
            for part in parts {
                if first {
                    self.line(&format!("{head}{part}"));
                    first = false;
                } else {
                    self.out.push_str(&continuation);
                    self.out.push_str(&part);
                    self.out.push('\n');
                }
            }
        }
        for t in tail {
            self.out.push_str(&continuation);
            self.out.push_str(t);
            self.out.push('\n');
        }
    }

    /// A condition's top-level `or` (else `and`) chain, one operand per line.
    fn broken(&self, cond: &Expr) -> Vec<String> {
        let op = match &cond.kind {
            ExprKind::Binary(op @ (BinOp::Or | BinOp::And), _, _) => *op,
            _ => return vec![self.expr(cond)],
        };
        let mut operands = Vec::new();
        let mut current = cond;
        while let ExprKind::Binary(o, a, b) = &current.kind {
            if *o != op {
                break;
            }
            operands.push(b.as_ref());
            current = a;
        }
        operands.push(current);
        operands.reverse();
        operands
            .iter()
            .enumerate()
            .map(|(i, e)| {
                if i == 0 {
                    self.expr(e)
                } else {
                    format!("{} {}", op.as_str(), self.expr(e))
                }
            })
            .collect()
    }

    fn expr(&self, e: &Expr) -> String {
        // A long `a and b and …` chain nests as deep as it is long.
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(e))
    }

    fn expr_inner(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Lit(Literal::Null) => "null".to_string(),
            ExprKind::Lit(Literal::Bool(b)) => b.to_string(),
            ExprKind::Lit(_) => self.literal(e.span),
            ExprKind::Path(p) => p.dotted(),
            ExprKind::Tier => "tier".to_string(),
            ExprKind::Has(p) => format!("has({})", p.dotted()),
            ExprKind::Not(inner) => format!("not {}", self.expr(inner)),
            ExprKind::Neg(inner) => format!("-{}", self.expr(inner)),
            ExprKind::Binary(op, a, b) => {
                format!("{} {} {}", self.expr(a), op.as_str(), self.expr(b))
            }
            ExprKind::SetLit(items) => {
                let items: Vec<String> = items.iter().map(|i| self.expr(i)).collect();
                format!("{{{}}}", items.join(", "))
            }
            ExprKind::Paren(inner) => format!("({})", self.expr(inner)),
            ExprKind::Call(f, args) => {
                let args: Vec<String> = args.iter().map(|a| self.expr(a)).collect();
                format!("{}({})", f.node, args.join(", "))
            }
        }
    }
}

fn type_text(ty: &TypeExpr) -> String {
    let base = match &ty.kind {
        TypeKind::Named(name) => name.clone(),
        TypeKind::Set(elem) => format!("set<{}>", elem.node),
    };
    if ty.optional {
        format!("{base}?")
    } else {
        base
    }
}

fn assert_expect(e: &AssertExpect) -> String {
    let target = match &e.target {
        AssertTarget::Outcome(o) => o.as_str().to_string(),
        AssertTarget::Tier(n) => format!("tier {}", n.node),
        AssertTarget::Duty(n) => format!("duty {}", n.node),
    };
    if e.negated {
        format!("not {target}")
    } else {
        target
    }
}
