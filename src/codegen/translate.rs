//! IR to Cranelift IR: one `FunctionTranslator` per guard, one `translate_*` method per
//! construct. The function evaluates in the interpreter's order — tiers, rules, duties,
//! triggers — so that both fail at the same site when an operation fails.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, BlockArg, FuncRef, InstBuilder, MemFlagsData, Type, Value, types,
};
use cranelift_frontend::{FunctionBuilder, Variable};

use super::{Texts, raw_offsets};
use crate::ast::CmpOp;
use crate::ir::index::RuleIndex;
use crate::ir::{
    ArithOp, Expr, Kind, LITERAL_SET, Layout, NO_TIER, Policy, StrFunc, outcome_code, status,
};

/// The functions generated code calls, for what has loops or needs the strings' text.
#[derive(Clone, Copy)]
pub(crate) struct Helpers {
    /// `bylaw_str_set_contains(items, packed, id) -> u8`.
    pub str_set_contains: FuncRef,
    /// `bylaw_str_call(env, call, a, b) -> i64`: a string function's result, negative
    /// when it could not run.
    pub str_call: FuncRef,
    /// `bylaw_str_set_rel(env, all, a, b) -> i64`: `contains_all`/`contains_any` of two
    /// `set<string>` values.
    pub str_set_rel: FuncRef,
    /// `bylaw_time_call(env, zone << 1 | weekday, t, 0) -> i64`: `hour_of_day` or
    /// `weekday`, negative when the local time is past the int range.
    pub time_call: FuncRef,
}

/// The helpers' names, as the JIT registers them and the C module defines them.
pub(crate) const STR_SET_CONTAINS: &str = "bylaw_str_set_contains";
pub(crate) const STR_CALL: &str = "bylaw_str_call";
pub(crate) const STR_SET_REL: &str = "bylaw_str_set_rel";
pub(crate) const TIME_CALL: &str = "bylaw_time_call";

pub(crate) struct FunctionTranslator<'a, 'b> {
    pub builder: &'a mut FunctionBuilder<'b>,
    pub policy: &'a Policy,
    pub helpers: Helpers,
    texts: Texts,
    rec: Value,
    env: Value,
    slots: Value,
    present: Value,
    set_items: Value,
    degraded: Value,
    out: Value,
    tier: Variable,
    /// One variable per result word this function owns, from `first_word` on; stored
    /// once, at the end, so the caller need not clear the result and firing needs no
    /// branch.
    words: Vec<Variable>,
    first_word: usize,
    part: Part,
    fail_block: cranelift_codegen::ir::Block,
}

/// Large policies are split into several functions, so that Cranelift's register
/// allocation works on pieces of bounded size and compile time grows linearly.
pub(crate) const RULES_PER_PART: usize = 256;

/// Which part of the guard a function computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Everything, in one function `fn(rec, out)`: small policies.
    Whole,
    /// Tiers, then calls to the parts, then the outcome: `fn(rec, out)`. In an indexed
    /// guard it clears the rule words first and calls each group's dispatch parts
    /// through a jump table on the group's field.
    Main,
    /// A range of rules (whole result words): `fn(rec, out, tier) -> failed`.
    Rules(std::ops::Range<usize>),
    /// An indexed guard's rules evaluated for every request, by number: `fn(rec, out,
    /// tier) -> failed`, or-ing the bits of those that fire into the result.
    Scan(Vec<usize>),
    /// Some of one index group's buckets: `fn(rec, out, tier) -> failed` (never
    /// failed: indexed rules cannot fail), evaluating the rules of the bucket the
    /// field's value selects.
    Dispatch(Dispatch),
    /// Duties and triggers: `fn(rec, out, tier) -> failed`.
    Rest,
    /// The outcome alone, for `Guard::decide_outcome`: `fn(rec, out)` over a whole
    /// (unsplit) policy that returns as soon as a deny rule fires — nothing can
    /// change a deny, since a later failure would deny too. Otherwise it computes
    /// everything, as `Whole` does. Only the outcome word it writes is meaningful.
    Outcome,
}

/// Buckets of one [`crate::ir::index::Group`], at most [`RULES_PER_PART`] rule
/// evaluations in all; a bucket larger than that is split over several parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dispatch {
    pub group: usize,
    pub slot: u32,
    pub kind: Kind,
    pub buckets: Vec<(u64, Vec<usize>)>,
}

impl Part {
    /// How a policy's guard is split: `[Whole]`, `[Main, Rules…, Rest]`, or for an
    /// indexed policy `[Main, Scan…, Dispatch…, Rest]`.
    pub(crate) fn plan(policy: &Policy) -> Vec<Part> {
        let index = RuleIndex::plan(policy);
        if !index.is_empty() {
            return Self::plan_indexed(&index);
        }
        let rules = policy.rules.len();
        if rules <= RULES_PER_PART {
            return vec![Part::Whole];
        }
        let mut parts = vec![Part::Main];
        let mut start = 0;
        while start < rules {
            let end = (start + RULES_PER_PART).min(rules);
            parts.push(Part::Rules(start..end));
            start = end;
        }
        parts.push(Part::Rest);
        parts
    }

    fn plan_indexed(index: &RuleIndex) -> Vec<Part> {
        let mut parts = vec![Part::Main];
        let scanned: Vec<usize> = index.scanned.iter().map(|(i, _)| *i).collect();
        for chunk in scanned.chunks(RULES_PER_PART) {
            parts.push(Part::Scan(chunk.to_vec()));
        }
        for (g, group) in index.groups.iter().enumerate() {
            let empty = || Dispatch {
                group: g,
                slot: group.slot,
                kind: group.kind,
                buckets: Vec::new(),
            };
            let mut current = empty();
            let mut size = 0;
            for (&value, rules) in &group.buckets {
                for piece in rules.chunks(RULES_PER_PART) {
                    if size + piece.len() > RULES_PER_PART && !current.buckets.is_empty() {
                        parts.push(Part::Dispatch(std::mem::replace(&mut current, empty())));
                        size = 0;
                    }
                    current.buckets.push((value, piece.to_vec()));
                    size += piece.len();
                }
            }
            if !current.buckets.is_empty() {
                parts.push(Part::Dispatch(current));
            }
        }
        parts.push(Part::Rest);
        parts
    }

    fn is_callee(&self) -> bool {
        matches!(
            self,
            Part::Rules(_) | Part::Scan(_) | Part::Dispatch(_) | Part::Rest
        )
    }
}

/// How many nodes that may branch the function for `part` holds (an upper bound on
/// the blocks it will have); counted without recursion.
pub(crate) fn branches_in(policy: &Policy, part: &Part) -> usize {
    let tiers = policy.tiers.iter().filter_map(|t| t.cond.as_ref());
    let rules = |range: std::ops::Range<usize>| {
        policy
            .rules
            .get(range)
            .unwrap_or_default()
            .iter()
            .map(|r| &r.cond)
    };
    let rest = policy
        .duties
        .iter()
        .flat_map(|d| d.when.iter().chain(d.requires.iter().map(|r| &r.cond)))
        .chain(policy.triggers.iter().map(|t| &t.cond));
    let mut stack: Vec<&Expr> = match part {
        Part::Whole | Part::Outcome => tiers
            .chain(rules(0..policy.rules.len()))
            .chain(rest)
            .collect(),
        Part::Main => tiers.collect(),
        Part::Rules(range) => rules(range.clone()).collect(),
        Part::Scan(numbers) => numbers
            .iter()
            .filter_map(|&i| policy.rules.get(i).map(|r| &r.cond))
            .collect(),
        Part::Dispatch(d) => d
            .buckets
            .iter()
            .flat_map(|(_, numbers)| numbers.iter())
            .filter_map(|&i| policy.rules.get(i).map(|r| &r.cond))
            .collect(),
        Part::Rest => rest.collect(),
    };
    let mut branches = 0;
    while let Some(e) = stack.pop() {
        if matches!(
            e,
            Expr::And(..)
                | Expr::Or(..)
                | Expr::Arith { .. }
                | Expr::Neg { .. }
                | Expr::InStrSet { .. }
                | Expr::Coalesce { .. }
                | Expr::InList { .. }
                | Expr::StrCall { .. }
                | Expr::SetRel { strings: true, .. }
                | Expr::Abs { .. }
                | Expr::FloatToInt { .. }
                | Expr::TimeCall { .. }
        ) {
            branches += 1;
        }
        stack.extend(e.children());
    }
    branches
}

fn flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

fn kind_type(kind: Kind) -> Type {
    match kind {
        Kind::Bool => types::I8,
        Kind::Float => types::F64,
        Kind::Int | Kind::Str | Kind::Enum | Kind::Tier => types::I64,
    }
}

fn int_cc(op: CmpOp) -> IntCC {
    match op {
        CmpOp::Eq => IntCC::Equal,
        CmpOp::Ne => IntCC::NotEqual,
        CmpOp::Lt => IntCC::SignedLessThan,
        CmpOp::Le => IntCC::SignedLessThanOrEqual,
        CmpOp::Gt => IntCC::SignedGreaterThan,
        CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
    }
}

fn float_cc(op: CmpOp) -> FloatCC {
    match op {
        CmpOp::Eq => FloatCC::Equal,
        CmpOp::Ne => FloatCC::NotEqual,
        CmpOp::Lt => FloatCC::LessThan,
        CmpOp::Le => FloatCC::LessThanOrEqual,
        CmpOp::Gt => FloatCC::GreaterThan,
        CmpOp::Ge => FloatCC::GreaterThanOrEqual,
    }
}

/// The longest literal `starts_with`/`ends_with` compares in line (eight words).
const MAX_AFFIX_IN_LINE: usize = 64;

/// The loads that cover `len` bytes: `(offset, width)`, widths 8, 4, 2 or 1, the last
/// load overlapping the one before where `len` is not a multiple of the width.
fn word_chunks(len: usize) -> Vec<(usize, usize)> {
    let width = match len {
        0 => return Vec::new(),
        1 => 1,
        2..4 => 2,
        4..8 => 4,
        _ => 8,
    };
    let mut chunks: Vec<(usize, usize)> = (0..len / width).map(|k| (k * width, width)).collect();
    if !len.is_multiple_of(width) {
        chunks.push((len - width, width));
    }
    chunks
}

/// Whether `e` can be evaluated eagerly, without branches: it cannot fail and calls
/// nothing. Evaluating such an expression has no observable effect, so skipping the
/// short circuit changes nothing but speed (mispredicted branches cost more than the
/// few comparisons they would skip).
fn is_eager(e: &Expr) -> bool {
    if e.is_leaf() {
        return true;
    }
    stacker::maybe_grow(64 * 1024, 1024 * 1024, || match e {
        Expr::Arith { .. }
        | Expr::InStrSet { .. }
        | Expr::StrCall { .. }
        | Expr::SetRel { strings: true, .. }
        | Expr::FloatToInt { .. }
        | Expr::TimeCall { .. } => false,
        Expr::Neg { kind, a, .. } | Expr::Abs { kind, a, .. } => {
            *kind == Kind::Float && is_eager(a)
        }
        Expr::SetRel { a, b, .. } | Expr::MinMax { a, b, .. } => is_eager(a) && is_eager(b),
        Expr::SetLen { a, .. } => is_eager(a),
        Expr::Coalesce { default, .. } => is_eager(default),
        Expr::Not(a)
        | Expr::IntToFloat(a)
        | Expr::InEnumSet { elem: a, .. }
        | Expr::InMask { elem: a, .. } => is_eager(a),
        Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp { a, b, .. } => is_eager(a) && is_eager(b),
        Expr::InList { elem, items, .. } => is_eager(elem) && items.iter().all(is_eager),
        _ => true,
    })
}

impl<'a, 'b> FunctionTranslator<'a, 'b> {
    /// Emits one part of the guard into the builder's function. `callees` are the
    /// parts `Part::Main` calls and their functions, in plan order after itself.
    pub fn translate(
        builder: &'a mut FunctionBuilder<'b>,
        policy: &'a Policy,
        helpers: Helpers,
        texts: Texts,
        part: Part,
        callees: &[(&Part, FuncRef)],
    ) {
        let entry = builder.create_block();
        builder.append_block_params_for_function_params(entry);
        builder.switch_to_block(entry);
        let params = builder.block_params(entry).to_vec();
        let (rec, out, tier_param) = match params.as_slice() {
            [rec, out] => (*rec, *out, None),
            [rec, out, tier] => (*rec, *out, Some(*tier)),
            _ => return,
        };
        let slots = builder
            .ins()
            .load(types::I64, flags(), rec, raw_offsets::SLOTS);
        let present = builder
            .ins()
            .load(types::I64, flags(), rec, raw_offsets::PRESENT);
        let set_items = builder
            .ins()
            .load(types::I64, flags(), rec, raw_offsets::SET_ITEMS);
        let degraded = builder
            .ins()
            .load(types::I64, flags(), rec, raw_offsets::DEGRADED);
        let env = builder
            .ins()
            .load(types::I64, flags(), rec, raw_offsets::ENV);
        let tier = builder.declare_var(types::I64);
        let initial_tier = match tier_param {
            Some(t) => t,
            None => builder.ins().iconst(types::I64, NO_TIER as i64),
        };
        builder.def_var(tier, initial_tier);
        let layout = policy.layout;
        let (first_word, end_word) = match &part {
            Part::Whole | Part::Outcome => (layout.rules, layout.words),
            Part::Main => (layout.rules, layout.rules),
            Part::Rules(range) => (
                layout.rules + range.start / 64,
                layout.rules + range.end.div_ceil(64),
            ),
            Part::Scan(_) | Part::Dispatch(_) => (layout.rules, layout.duties),
            Part::Rest => (layout.duties, layout.words),
        };
        let zero = builder.ins().iconst(types::I64, 0);
        let words = (first_word..end_word)
            .map(|_| {
                let var = builder.declare_var(types::I64);
                builder.def_var(var, zero);
                var
            })
            .collect();

        let fail_block = builder.create_block();
        builder.append_block_param(fail_block, types::I64);
        builder.append_block_param(fail_block, types::I64);

        let mut t = FunctionTranslator {
            builder,
            policy,
            helpers,
            texts,
            rec,
            env,
            slots,
            present,
            set_items,
            degraded,
            out,
            tier,
            words,
            first_word,
            part: part.clone(),
            fail_block,
        };
        match &part {
            Part::Whole => {
                t.translate_tiers();
                t.translate_rules(0..policy.rules.len());
                t.translate_duties();
                t.translate_triggers();
                t.translate_finish();
            }
            Part::Main => {
                t.translate_tiers();
                t.translate_calls(rec, callees);
                t.translate_finish();
            }
            Part::Outcome => {
                t.translate_tiers();
                t.translate_deny_rules_first();
                t.translate_duties();
                t.translate_triggers();
                t.translate_finish();
            }
            Part::Rules(range) => {
                t.translate_rules(range.clone());
                t.translate_part_finish();
            }
            Part::Scan(numbers) => {
                t.translate_scan(numbers);
            }
            Part::Dispatch(dispatch) => {
                t.translate_dispatch(dispatch);
            }
            Part::Rest => {
                t.translate_duties();
                t.translate_triggers();
                t.translate_part_finish();
            }
        }
        t.translate_fail_block();
        t.builder.seal_all_blocks();
    }

    /// Calls each part with the tier; a part that failed has written why: return. An
    /// index group's dispatch parts are called only for the values they hold.
    fn translate_calls(&mut self, rec: Value, callees: &[(&Part, FuncRef)]) {
        if callees.iter().any(|(p, _)| matches!(p, Part::Dispatch(_))) {
            self.clear_rule_words();
        }
        let failed_return = self.builder.create_block();
        let mut k = 0;
        while let Some(&(part, callee)) = callees.get(k) {
            if let Part::Dispatch(first) = part {
                let group: Vec<(&Dispatch, FuncRef)> = callees[k..]
                    .iter()
                    .map_while(|(p, f)| match p {
                        Part::Dispatch(d) if d.group == first.group => Some((d, *f)),
                        _ => None,
                    })
                    .collect();
                k += group.len();
                self.translate_group_call(rec, &group);
                continue;
            }
            k += 1;
            let tier = self.builder.use_var(self.tier);
            let call = self.builder.ins().call(callee, &[rec, self.out, tier]);
            let failed = match self.builder.inst_results(call) {
                [f] => *f,
                _ => continue,
            };
            let next = self.builder.create_block();
            self.builder
                .ins()
                .brif(failed, failed_return, &[], next, &[]);
            self.builder.switch_to_block(next);
        }
        let after = self.builder.create_block();
        self.builder.ins().jump(after, &[]);
        self.builder.switch_to_block(failed_return);
        self.builder.ins().return_(&[]);
        self.builder.switch_to_block(after);
    }

    /// Zeroes the rule words of the result: the scan and dispatch parts only or bits
    /// into them.
    fn clear_rule_words(&mut self) {
        let layout = self.policy.layout;
        let zero = self.builder.ins().iconst(types::I64, 0);
        for word in layout.rules..layout.duties {
            self.builder
                .ins()
                .store(flags(), zero, self.out, (word * 8) as i32);
        }
    }

    /// Reads the group's field once and jumps, through a table indexed by its value,
    /// to a call of the dispatch parts holding that value's rules.
    fn translate_group_call(&mut self, rec: Value, parts: &[(&Dispatch, FuncRef)]) {
        let Some((first, _)) = parts.first() else {
            return;
        };
        let mut callers: std::collections::BTreeMap<u64, Vec<FuncRef>> = Default::default();
        for (d, f) in parts {
            for (value, _) in &d.buckets {
                let list = callers.entry(*value).or_default();
                if !list.contains(f) {
                    list.push(*f);
                }
            }
        }
        let after = self.builder.create_block();
        // One block per distinct list of parts to call, shared by the values it serves.
        let mut blocks: std::collections::BTreeMap<Vec<FuncRef>, cranelift_codegen::ir::Block> =
            Default::default();
        let targets: Vec<(u64, cranelift_codegen::ir::Block)> = callers
            .into_iter()
            .map(|(v, list)| {
                let block = *blocks
                    .entry(list)
                    .or_insert_with(|| self.builder.create_block());
                (v, block)
            })
            .collect();
        let value = self.load_slot(first.slot, first.kind);
        self.jump_by_value(value, &targets, after);
        for (list, block) in blocks {
            self.builder.switch_to_block(block);
            for callee in list {
                let tier = self.builder.use_var(self.tier);
                self.builder.ins().call(callee, &[rec, self.out, tier]);
            }
            self.builder.ins().jump(after, &[]);
        }
        self.builder.switch_to_block(after);
    }

    /// Jumps to the block paired with `value`, or to `otherwise` for every value not
    /// listed: a bounds check and a jump table over `0..=max`.
    fn jump_by_value(
        &mut self,
        value: Value,
        targets: &[(u64, cranelift_codegen::ir::Block)],
        otherwise: cranelift_codegen::ir::Block,
    ) {
        let len = targets.last().map_or(0, |(v, _)| v + 1);
        let table_block = self.builder.create_block();
        let in_range = self
            .builder
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, value, len as i64);
        self.builder
            .ins()
            .brif(in_range, table_block, &[], otherwise, &[]);
        self.builder.switch_to_block(table_block);
        let index = self.builder.ins().ireduce(types::I32, value);
        let mut entries = Vec::with_capacity(len as usize);
        let mut listed = targets.iter().peekable();
        for v in 0..len {
            let block = match listed.peek() {
                Some((w, b)) if *w == v => {
                    listed.next();
                    *b
                }
                _ => otherwise,
            };
            entries.push(self.builder.func.dfg.block_call(block, &[]));
        }
        let default = self.builder.func.dfg.block_call(otherwise, &[]);
        let table = self
            .builder
            .create_jump_table(cranelift_codegen::ir::JumpTableData::new(default, &entries));
        self.builder.ins().br_table(index, table);
    }

    /// A scan part: its rules in order, then their words or-ed into the result.
    fn translate_scan(&mut self, numbers: &[usize]) {
        self.translate_rules_into_result(numbers);
        let ok = self.builder.ins().iconst(types::I8, 0);
        self.builder.ins().return_(&[ok]);
    }

    /// A dispatch part: the field's value selects one bucket, whose rules are
    /// evaluated and or-ed into the result.
    fn translate_dispatch(&mut self, dispatch: &Dispatch) {
        let done = self.builder.create_block();
        let blocks: Vec<(u64, cranelift_codegen::ir::Block)> = dispatch
            .buckets
            .iter()
            .map(|(v, _)| (*v, self.builder.create_block()))
            .collect();
        let value = self.load_slot(dispatch.slot, dispatch.kind);
        self.jump_by_value(value, &blocks, done);
        for ((_, rules), (_, block)) in dispatch.buckets.iter().zip(&blocks) {
            self.builder.switch_to_block(*block);
            // Each bucket is entered from the jump table only, where every word is
            // still zero.
            self.translate_rules_into_result(rules);
            self.builder.ins().jump(done, &[]);
        }
        self.builder.switch_to_block(done);
        let ok = self.builder.ins().iconst(types::I8, 0);
        self.builder.ins().return_(&[ok]);
    }

    /// Evaluates the rules numbered `numbers`, then ors the words their bits are in
    /// into the result.
    fn translate_rules_into_result(&mut self, numbers: &[usize]) {
        let base = self.policy.layout.rules;
        let mut touched = std::collections::BTreeSet::new();
        for &i in numbers {
            let Some(rule) = self.policy.rules.get(i) else {
                continue;
            };
            let fired = self.translate_expr(&rule.cond);
            self.set_bit_if(fired, base, i);
            touched.insert(base + i / 64);
        }
        self.or_words_into_result(&touched);
    }

    /// `out[word] |= bits` for each word this part may have set bits in.
    fn or_words_into_result(&mut self, words: &std::collections::BTreeSet<usize>) {
        for &word in words {
            let Some(&var) = word
                .checked_sub(self.first_word)
                .and_then(|k| self.words.get(k))
            else {
                continue;
            };
            let bits = self.builder.use_var(var);
            let offset = (word * 8) as i32;
            let old = self
                .builder
                .ins()
                .load(types::I64, flags(), self.out, offset);
            let new = self.builder.ins().bor(old, bits);
            self.builder.ins().store(flags(), new, self.out, offset);
        }
    }

    /// A part's end: store the words it owns and report success.
    fn translate_part_finish(&mut self) {
        self.store_words();
        let ok = self.builder.ins().iconst(types::I8, 0);
        self.builder.ins().return_(&[ok]);
    }

    fn store_words(&mut self) {
        for (k, var) in self.words.clone().into_iter().enumerate() {
            let word = self.builder.use_var(var);
            let offset = ((self.first_word + k) * 8) as i32;
            self.builder.ins().store(flags(), word, self.out, offset);
        }
    }

    fn translate_tiers(&mut self) {
        let tiers = &self.policy.tiers;
        if tiers.is_empty() {
            return;
        }
        if tiers.iter().all(|t| t.cond.as_ref().is_none_or(is_eager)) {
            // First match wins: select from the last tier back to the first.
            let mut chosen = self.builder.ins().iconst(types::I64, NO_TIER as i64);
            for (i, tier) in tiers.iter().enumerate().rev() {
                let index = self.builder.ins().iconst(types::I64, i as i64);
                chosen = match &tier.cond {
                    None => index,
                    Some(cond) => {
                        let matched = self.translate_expr(cond);
                        self.builder.ins().select(matched, index, chosen)
                    }
                };
            }
            self.builder.def_var(self.tier, chosen);
            return;
        }
        let done = self.builder.create_block();
        for (i, tier) in tiers.iter().enumerate() {
            let index = self.builder.ins().iconst(types::I64, i as i64);
            match &tier.cond {
                None => {
                    self.builder.def_var(self.tier, index);
                    self.builder.ins().jump(done, &[]);
                    break;
                }
                Some(cond) => {
                    let matched = self.translate_expr(cond);
                    let chosen = self.builder.create_block();
                    let next = self.builder.create_block();
                    self.builder.ins().brif(matched, chosen, &[], next, &[]);
                    self.builder.switch_to_block(chosen);
                    self.builder.def_var(self.tier, index);
                    self.builder.ins().jump(done, &[]);
                    self.builder.switch_to_block(next);
                }
            }
        }
        if tiers.last().is_some_and(|t| t.cond.is_some()) {
            self.builder.ins().jump(done, &[]);
        }
        self.builder.switch_to_block(done);
    }

    /// Ors `fired` (0 or 1) into bit `bit` of the bit set starting at word `base`.
    fn set_bit_if(&mut self, fired: Value, base: usize, bit: usize) {
        let Some(index) = (base + bit / 64).checked_sub(self.first_word) else {
            return;
        };
        let Some(&var) = self.words.get(index) else {
            return;
        };
        let word = self.builder.use_var(var);
        let wide = self.builder.ins().uextend(types::I64, fired);
        let shifted = self.builder.ins().ishl_imm_s(wide, (bit % 64) as i64);
        let word = self.builder.ins().bor(word, shifted);
        self.builder.def_var(var, word);
    }

    /// The outcome from the fired bits: for each severity, the words of rules and
    /// requirements that carry it are masked and tested — a few instructions per word
    /// instead of a comparison per rule.
    fn translate_outcome(&mut self) -> Value {
        let layout = self.policy.layout;
        let mut masks: Vec<[u64; 3]> = vec![[0; 3]; layout.words - layout.rules];
        for (i, rule) in self.policy.rules.iter().enumerate() {
            let word = layout.rules + i / 64 - layout.rules;
            if let Some(m) = masks.get_mut(word) {
                m[outcome_code(rule.outcome) as usize] |= 1 << (i % 64);
            }
        }
        for duty in &self.policy.duties {
            for (j, require) in duty.requires.iter().enumerate() {
                let bit = duty.first_require + j;
                let word = layout.requires + bit / 64 - layout.rules;
                if let Some(m) = masks.get_mut(word) {
                    m[outcome_code(require.outcome) as usize] |= 1 << (bit % 64);
                }
            }
        }
        let mut any = [self.builder.ins().iconst(types::I64, 0); 3];
        for (k, mask) in masks.iter().enumerate() {
            if mask.iter().all(|&m| m == 0) {
                continue;
            }
            let word = match self.part {
                Part::Main => {
                    let offset = ((layout.rules + k) * 8) as i32;
                    self.builder
                        .ins()
                        .load(types::I64, flags(), self.out, offset)
                }
                _ => match self.words.get(k) {
                    Some(&var) => self.builder.use_var(var),
                    None => continue,
                },
            };
            for (code, &m) in mask.iter().enumerate() {
                if m == 0 {
                    continue;
                }
                let hit = self.builder.ins().band_imm_s(word, m as i64);
                any[code] = self.builder.ins().bor(any[code], hit);
            }
        }
        let mut outcome = self
            .builder
            .ins()
            .iconst(types::I64, outcome_code(self.policy.default) as i64);
        for code in 0..3u64 {
            let fired = self
                .builder
                .ins()
                .icmp_imm_s(IntCC::NotEqual, any[code as usize], 0);
            let value = self.builder.ins().iconst(types::I64, code as i64);
            outcome = self.builder.ins().select(fired, value, outcome);
        }
        outcome
    }

    fn translate_rules(&mut self, range: std::ops::Range<usize>) {
        let base = self.policy.layout.rules;
        let rules = self.policy.rules.get(range.clone()).unwrap_or(&[]);
        for (i, rule) in range.zip(rules) {
            let fired = self.translate_expr(&rule.cond);
            self.set_bit_if(fired, base, i);
        }
    }

    /// The deny rules in order, returning deny at the first that fires; then the
    /// others, setting their bits.
    fn translate_deny_rules_first(&mut self) {
        let deny = outcome_code(crate::ast::Outcome::Deny);
        let denied = self.builder.create_block();
        for rule in &self.policy.rules {
            if outcome_code(rule.outcome) != deny {
                continue;
            }
            let fired = self.translate_expr(&rule.cond);
            let next = self.builder.create_block();
            self.builder.ins().brif(fired, denied, &[], next, &[]);
            self.builder.seal_block(next);
            self.builder.switch_to_block(next);
        }
        let base = self.policy.layout.rules;
        for (i, rule) in self.policy.rules.iter().enumerate() {
            if outcome_code(rule.outcome) != deny {
                let fired = self.translate_expr(&rule.cond);
                self.set_bit_if(fired, base, i);
            }
        }
        let rest = self.builder.create_block();
        self.builder.ins().jump(rest, &[]);
        self.builder.switch_to_block(denied);
        let zero = self.builder.ins().iconst(types::I64, 0);
        self.builder
            .ins()
            .store(flags(), zero, self.out, (Layout::STATUS * 8) as i32);
        let code = self.builder.ins().iconst(types::I64, deny as i64);
        self.builder
            .ins()
            .store(flags(), code, self.out, (Layout::OUTCOME * 8) as i32);
        self.builder.ins().return_(&[]);
        self.builder.switch_to_block(rest);
    }

    fn translate_duties(&mut self) {
        let layout = self.policy.layout;
        for (i, duty) in self.policy.duties.iter().enumerate() {
            let mut applies = self.builder.ins().iconst(types::I8, 1);
            if let Some(mask) = duty.tier_mask {
                let tier = self.builder.use_var(self.tier);
                let mask = self.builder.ins().iconst(types::I64, mask as i64);
                applies = self.bit_test(tier, mask);
            }
            let eager = duty.when.as_ref().is_none_or(is_eager)
                && duty.requires.iter().all(|r| is_eager(&r.cond));
            if eager {
                // Nothing here can fail: evaluate it all, and mask by whether the duty applies.
                if let Some(when) = &duty.when {
                    let holds = self.translate_expr(when);
                    applies = self.builder.ins().band(applies, holds);
                }
                self.set_bit_if(applies, layout.duties, i);
                for (j, require) in duty.requires.iter().enumerate() {
                    let met = self.translate_expr(&require.cond);
                    let unmet = self.builder.ins().bxor_imm_s(met, 1);
                    let fired = self.builder.ins().band(applies, unmet);
                    self.set_bit_if(fired, layout.requires, duty.first_require + j);
                }
                continue;
            }
            // A condition that may fail is evaluated only when the duty applies.
            let skip = self.builder.create_block();
            let go = self.builder.create_block();
            self.builder.ins().brif(applies, go, &[], skip, &[]);
            self.builder.switch_to_block(go);
            if let Some(when) = &duty.when {
                let holds = self.translate_expr(when);
                let go = self.builder.create_block();
                self.builder.ins().brif(holds, go, &[], skip, &[]);
                self.builder.switch_to_block(go);
            }
            let one = self.builder.ins().iconst(types::I8, 1);
            self.set_bit_if(one, layout.duties, i);
            for (j, require) in duty.requires.iter().enumerate() {
                let met = self.translate_expr(&require.cond);
                let fired = self.builder.ins().bxor_imm_s(met, 1);
                self.set_bit_if(fired, layout.requires, duty.first_require + j);
            }
            self.builder.ins().jump(skip, &[]);
            self.builder.switch_to_block(skip);
        }
    }

    fn translate_triggers(&mut self) {
        let base = self.policy.layout.triggers;
        for (i, trigger) in self.policy.triggers.iter().enumerate() {
            let fired = self.translate_expr(&trigger.cond);
            self.set_bit_if(fired, base, i);
        }
    }

    fn translate_finish(&mut self) {
        let zero = self.builder.ins().iconst(types::I64, 0);
        self.builder
            .ins()
            .store(flags(), zero, self.out, (Layout::STATUS * 8) as i32);
        self.builder
            .ins()
            .store(flags(), zero, self.out, (Layout::SITE * 8) as i32);
        let tier = self.builder.use_var(self.tier);
        self.builder
            .ins()
            .store(flags(), tier, self.out, (Layout::TIER * 8) as i32);
        let outcome = self.translate_outcome();
        self.builder
            .ins()
            .store(flags(), outcome, self.out, (Layout::OUTCOME * 8) as i32);
        self.store_words();
        self.builder.ins().return_(&[]);
    }

    fn translate_fail_block(&mut self) {
        self.builder.switch_to_block(self.fail_block);
        let (status, site) = match self.builder.block_params(self.fail_block) {
            [s, t] => (*s, *t),
            _ => return,
        };
        self.builder
            .ins()
            .store(flags(), status, self.out, (Layout::STATUS * 8) as i32);
        self.builder
            .ins()
            .store(flags(), site, self.out, (Layout::SITE * 8) as i32);
        if self.part.is_callee() {
            let failed = self.builder.ins().iconst(types::I8, 1);
            self.builder.ins().return_(&[failed]);
        } else {
            self.builder.ins().return_(&[]);
        }
    }

    /// Branches to the fail block with `status` and `site` when `failed` is set.
    fn fail_if(&mut self, failed: Value, status: u64, site: u32) {
        let status = self.builder.ins().iconst(types::I64, status as i64);
        let site = self.builder.ins().iconst(types::I64, i64::from(site));
        let cont = self.builder.create_block();
        self.builder.ins().brif(
            failed,
            self.fail_block,
            &[BlockArg::Value(status), BlockArg::Value(site)],
            cont,
            &[],
        );
        // Its one predecessor is known now; sealing at once keeps SSA construction
        // linear in a long chain of checked operations.
        self.builder.seal_block(cont);
        self.builder.switch_to_block(cont);
    }

    /// `-x` and `abs(x)` overflow on the smallest int only.
    fn fail_if_min(&mut self, x: Value, site: u32) {
        let is_min = self.builder.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
        self.fail_if(is_min, status::OVERFLOW, site);
    }

    fn load_slot(&mut self, slot: u32, kind: Kind) -> Value {
        let offset = (slot as i32) * 8;
        match kind {
            // Records hold booleans as exactly 0 or 1 (every encoder writes
            // `u64::from(bool)`), so the low byte is the value itself.
            Kind::Bool => {
                let low_byte = if cfg!(target_endian = "big") { 7 } else { 0 };
                self.builder
                    .ins()
                    .load(types::I8, flags(), self.slots, offset + low_byte)
            }
            Kind::Float => self
                .builder
                .ins()
                .load(types::F64, flags(), self.slots, offset),
            Kind::Int | Kind::Str | Kind::Enum | Kind::Tier => {
                self.builder
                    .ins()
                    .load(types::I64, flags(), self.slots, offset)
            }
        }
    }

    fn is_present(&mut self, slot: u32) -> Value {
        let offset = ((slot / 64) * 8) as i32;
        let word = self
            .builder
            .ins()
            .load(types::I64, flags(), self.present, offset);
        let shifted = self.builder.ins().ushr_imm_s(word, i64::from(slot % 64));
        let bit = self.builder.ins().band_imm_s(shifted, 1);
        self.builder.ins().icmp_imm_s(IntCC::NotEqual, bit, 0)
    }

    /// `member < 64 && mask has bit member`, as the interpreter tests it.
    fn bit_test(&mut self, member: Value, mask: Value) -> Value {
        let in_range = self
            .builder
            .ins()
            .icmp_imm_s(IntCC::UnsignedLessThan, member, 64);
        let shifted = self.builder.ins().ushr(mask, member);
        let bit = self.builder.ins().band_imm_s(shifted, 1);
        let bit = self.builder.ins().ireduce(types::I8, bit);
        self.builder.ins().band(in_range, bit)
    }

    fn translate_expr(&mut self, e: &Expr) -> Value {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.translate_expr_inner(e))
    }

    fn translate_expr_inner(&mut self, e: &Expr) -> Value {
        match e {
            Expr::Bool(b) => self.builder.ins().iconst(types::I8, i64::from(*b)),
            Expr::Int(i) => self.builder.ins().iconst(types::I64, *i),
            Expr::Float(f) => self.builder.ins().f64const(*f),
            Expr::Str(id) | Expr::Enum(id) | Expr::Tier(id) => {
                self.builder.ins().iconst(types::I64, i64::from(*id))
            }
            Expr::Load { slot, kind } => self.load_slot(*slot, *kind),
            Expr::Has { slot } => self.is_present(*slot),
            Expr::Coalesce {
                slot,
                kind,
                default,
            } => {
                let present = self.is_present(*slot);
                let then_block = self.builder.create_block();
                let else_block = self.builder.create_block();
                let merge = self.builder.create_block();
                let result = self.builder.append_block_param(merge, kind_type(*kind));
                self.builder
                    .ins()
                    .brif(present, then_block, &[], else_block, &[]);
                self.builder.switch_to_block(then_block);
                let loaded = self.load_slot(*slot, *kind);
                self.builder.ins().jump(merge, &[BlockArg::Value(loaded)]);
                self.builder.switch_to_block(else_block);
                let fallback = self.translate_expr(default);
                self.builder.ins().jump(merge, &[BlockArg::Value(fallback)]);
                self.builder.switch_to_block(merge);
                result
            }
            Expr::Degraded => self
                .builder
                .ins()
                .icmp_imm_s(IntCC::NotEqual, self.degraded, 0),
            Expr::CurrentTier => self.builder.use_var(self.tier),
            Expr::Not(a) => {
                let v = self.translate_expr(a);
                self.builder.ins().bxor_imm_s(v, 1)
            }
            Expr::And(a, b) => self.translate_short_circuit(a, b, true),
            Expr::Or(a, b) => self.translate_short_circuit(a, b, false),
            Expr::Cmp { op, kind, a, b } => {
                let x = self.translate_expr(a);
                let y = self.translate_expr(b);
                self.translate_compare(*op, *kind, x, y)
            }
            Expr::Arith {
                op,
                kind,
                a,
                b,
                site,
            } => {
                let x = self.translate_expr(a);
                let y = self.translate_expr(b);
                self.translate_arith(*op, *kind, x, y, *site)
            }
            Expr::Neg { kind, a, site } => {
                let x = self.translate_expr(a);
                if *kind == Kind::Float {
                    self.builder.ins().fneg(x)
                } else {
                    self.fail_if_min(x, *site);
                    self.builder.ins().ineg(x)
                }
            }
            Expr::IntToFloat(a) => {
                let x = self.translate_expr(a);
                self.builder.ins().fcvt_from_sint(types::F64, x)
            }
            Expr::InEnumSet { elem, slot } => {
                let member = self.translate_expr(elem);
                let mask = self.load_slot(*slot, Kind::Int);
                self.bit_test(member, mask)
            }
            Expr::InMask { elem, mask } => {
                let member = self.translate_expr(elem);
                let mask = self.builder.ins().iconst(types::I64, *mask as i64);
                self.bit_test(member, mask)
            }
            Expr::InStrSet { elem, slot } => {
                let id = self.translate_expr(elem);
                let packed = self.load_slot(*slot, Kind::Int);
                let call = self
                    .builder
                    .ins()
                    .call(self.helpers.str_set_contains, &[self.set_items, packed, id]);
                match self.builder.inst_results(call) {
                    [found] => *found,
                    _ => self.builder.ins().iconst(types::I8, 0),
                }
            }
            Expr::InList { elem, kind, items } if is_eager(e) => {
                let x = self.translate_expr(elem);
                let mut found = self.builder.ins().iconst(types::I8, 0);
                for item in items {
                    let y = self.translate_expr(item);
                    let equal = self.translate_compare(CmpOp::Eq, *kind, x, y);
                    found = self.builder.ins().bor(found, equal);
                }
                found
            }
            Expr::InList { elem, kind, items } => {
                let x = self.translate_expr(elem);
                let merge = self.builder.create_block();
                let result = self.builder.append_block_param(merge, types::I8);
                let one = self.builder.ins().iconst(types::I8, 1);
                for item in items {
                    let y = self.translate_expr(item);
                    let equal = self.translate_compare(CmpOp::Eq, *kind, x, y);
                    let next = self.builder.create_block();
                    self.builder
                        .ins()
                        .brif(equal, merge, &[BlockArg::Value(one)], next, &[]);
                    self.builder.switch_to_block(next);
                }
                let zero = self.builder.ins().iconst(types::I8, 0);
                self.builder.ins().jump(merge, &[BlockArg::Value(zero)]);
                self.builder.switch_to_block(merge);
                result
            }
            Expr::StrCall { call, a, b, site } => {
                if let Some((literal, at_end)) = self.affix_in_line(*call, b.as_deref()) {
                    let x = self.translate_expr(a);
                    return self.translate_affix(x, literal, at_end);
                }
                let x = self.translate_expr(a);
                let y = match b {
                    Some(b) => self.translate_expr(b),
                    None => self.builder.ins().iconst(types::I64, 0),
                };
                let index = self.builder.ins().iconst(types::I64, i64::from(*call));
                let result = self.call_helper(self.helpers.str_call, index, x, y);
                let failed = self
                    .builder
                    .ins()
                    .icmp_imm_s(IntCC::SignedLessThan, result, 0);
                self.fail_if(failed, status::OUT_OF_MEMORY, *site);
                let is_len = self
                    .policy
                    .calls
                    .str_calls
                    .get(*call as usize)
                    .is_some_and(|c| c.func == StrFunc::Len);
                if is_len {
                    result
                } else {
                    self.builder.ins().icmp_imm_s(IntCC::NotEqual, result, 0)
                }
            }
            Expr::StrSet(i) => self
                .builder
                .ins()
                .iconst(types::I64, (LITERAL_SET | u64::from(*i)) as i64),
            Expr::SetRel { all, strings, a, b } => {
                let x = self.translate_expr(a);
                let y = self.translate_expr(b);
                if *strings {
                    let all = self.builder.ins().iconst(types::I64, i64::from(*all));
                    let result = self.call_helper(self.helpers.str_set_rel, all, x, y);
                    self.builder.ins().icmp_imm_s(IntCC::NotEqual, result, 0)
                } else {
                    let common = self.builder.ins().band(x, y);
                    if *all {
                        self.builder.ins().icmp(IntCC::Equal, common, y)
                    } else {
                        self.builder.ins().icmp_imm_s(IntCC::NotEqual, common, 0)
                    }
                }
            }
            Expr::SetLen { strings, a } => {
                let x = self.translate_expr(a);
                if *strings {
                    self.builder.ins().band_imm_s(x, 0xffff_ffff)
                } else {
                    self.builder.ins().popcnt(x)
                }
            }
            Expr::Abs { kind, a, site } => {
                let x = self.translate_expr(a);
                if *kind == Kind::Float {
                    self.builder.ins().fabs(x)
                } else {
                    self.fail_if_min(x, *site);
                    self.builder.ins().iabs(x)
                }
            }
            Expr::MinMax { max, kind, a, b } => {
                let x = self.translate_expr(a);
                let y = self.translate_expr(b);
                let op = if *max { CmpOp::Gt } else { CmpOp::Lt };
                let take_b = self.translate_compare(op, *kind, y, x);
                self.builder.ins().select(take_b, y, x)
            }
            Expr::TimeCall {
                weekday,
                zone,
                a,
                site,
            } => self.translate_time_call(*weekday, *zone, a, *site),
            Expr::FloatToInt { a, site } => {
                let x = self.translate_expr(a);
                // −2^63 ≤ x < 2^63; NaN fails both comparisons.
                let low = self.builder.ins().f64const(-9_223_372_036_854_775_808.0);
                let high = self.builder.ins().f64const(9_223_372_036_854_775_808.0);
                let above = self.builder.ins().fcmp(FloatCC::GreaterThanOrEqual, x, low);
                let below = self.builder.ins().fcmp(FloatCC::LessThan, x, high);
                let in_range = self.builder.ins().band(above, below);
                let out_of_range = self.builder.ins().bxor_imm_s(in_range, 1);
                self.fail_if(out_of_range, status::OVERFLOW, *site);
                self.builder.ins().fcvt_to_sint_sat(types::I64, x)
            }
        }
    }

    /// The literal and the end it is tested at, when string call `call` is a
    /// `starts_with` or `ends_with` of a literal with no case mapping and this guard
    /// can read the strings' bytes: such a test runs in line, without the helper.
    fn affix_in_line(&self, call: u32, b: Option<&Expr>) -> Option<(&'a [u8], bool)> {
        if self.texts != Texts::InLine {
            return None;
        }
        affix_of_literal(self.policy, call, b)
    }

    /// Whether the string with id `x` starts (or, `at_end`, ends) with `literal`: a
    /// length test, then the bytes compared a word at a time.
    fn translate_affix(&mut self, x: Value, literal: &[u8], at_end: bool) -> Value {
        let k = literal.len() as i64;
        if k == 0 {
            return self.builder.ins().iconst(types::I8, 1);
        }
        let (ptr, len) = self.text_of(x);
        let long_enough = self
            .builder
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, len, k);
        let compare = self.builder.create_block();
        let merge = self.builder.create_block();
        let result = self.builder.append_block_param(merge, types::I8);
        let no = self.builder.ins().iconst(types::I8, 0);
        self.builder
            .ins()
            .brif(long_enough, compare, &[], merge, &[BlockArg::Value(no)]);
        self.builder.switch_to_block(compare);
        let start = if at_end {
            let skip = self.builder.ins().iadd_imm_s(len, -k);
            self.builder.ins().iadd(ptr, skip)
        } else {
            ptr
        };
        let equal = self.bytes_equal(start, literal);
        self.builder.ins().jump(merge, &[BlockArg::Value(equal)]);
        self.builder.switch_to_block(merge);
        result
    }

    /// Whether the bytes at `p` are `literal`'s (the caller has checked there are
    /// enough): loads of 8, 4, 2 or 1 bytes, the last one overlapping the one before.
    fn bytes_equal(&mut self, p: Value, literal: &[u8]) -> Value {
        let unaligned = MemFlagsData::new().with_notrap().with_readonly();
        let mut all = self.builder.ins().iconst(types::I8, 1);
        for (offset, width) in word_chunks(literal.len()) {
            let Some(bytes) = literal.get(offset..offset + width) else {
                continue;
            };
            let (ty, expected) = match width {
                8 => (types::I64, bytes.try_into().map(u64::from_ne_bytes).ok()),
                4 => (
                    types::I32,
                    bytes
                        .try_into()
                        .map(|b| u64::from(u32::from_ne_bytes(b)))
                        .ok(),
                ),
                2 => (
                    types::I16,
                    bytes
                        .try_into()
                        .map(|b| u64::from(u16::from_ne_bytes(b)))
                        .ok(),
                ),
                _ => (types::I8, bytes.first().map(|&b| u64::from(b))),
            };
            let Some(expected) = expected else { continue };
            let loaded = self.builder.ins().load(ty, unaligned, p, offset as i32);
            let expected = self.builder.ins().iconst(ty, expected as i64);
            let equal = self.builder.ins().icmp(IntCC::Equal, loaded, expected);
            all = self.builder.ins().band(all, equal);
        }
        all
    }

    /// The bytes of the string with id `x`: a policy literal below the literals'
    /// count, else one of the record's own strings. An id neither table holds (a record
    /// made for another policy) reads as the empty string, as the helpers read it.
    fn text_of(&mut self, x: Value) -> (Value, Value) {
        let literals = self.policy.strings.len() as i64;
        let ins = self.builder.ins();
        let literal_table = ins.load(types::I64, flags(), self.rec, raw_offsets::LITERAL_TEXTS);
        let extra_table =
            self.builder
                .ins()
                .load(types::I64, flags(), self.rec, raw_offsets::EXTRA_TEXTS);
        let extra_count =
            self.builder
                .ins()
                .load(types::I64, flags(), self.rec, raw_offsets::EXTRA_COUNT);
        let ins = self.builder.ins();
        let is_literal = ins.icmp_imm_u(IntCC::UnsignedLessThan, x, literals);
        let extra_index = self.builder.ins().iadd_imm_s(x, -literals);
        let is_extra = self
            .builder
            .ins()
            .icmp(IntCC::UnsignedLessThan, extra_index, extra_count);
        let known = self.builder.ins().bor(is_literal, is_extra);
        let table = self
            .builder
            .ins()
            .select(is_literal, literal_table, extra_table);
        let index = self.builder.ins().select(is_literal, x, extra_index);
        // An unknown id reads entry 0 of the literals (there is one: the literal being
        // tested for) and then a length of zero.
        let table = self.builder.ins().select(known, table, literal_table);
        let zero = self.builder.ins().iconst(types::I64, 0);
        let index = self.builder.ins().select(known, index, zero);
        let at = self.builder.ins().imul_imm_s(index, raw_offsets::TEXT_SIZE);
        let entry = self.builder.ins().iadd(table, at);
        let ptr = self
            .builder
            .ins()
            .load(types::I64, flags(), entry, raw_offsets::TEXT_PTR);
        let len = self
            .builder
            .ins()
            .load(types::I64, flags(), entry, raw_offsets::TEXT_LEN);
        let len = self.builder.ins().select(known, len, zero);
        (ptr, len)
    }

    fn translate_time_call(&mut self, weekday: bool, zone: u32, a: &Expr, site: u32) -> Value {
        let t = self.translate_expr(a);
        let fixed = match self.policy.calls.zones.get(zone as usize) {
            Some(z) if z.offsets.len() == 1 => z.offsets.first().copied(),
            _ => None,
        };
        if let Some(offset) = fixed {
            return self.local_time(t, i64::from(offset), weekday, site);
        }
        let arg = self
            .builder
            .ins()
            .iconst(types::I64, (i64::from(zone) << 1) | i64::from(weekday));
        let zero = self.builder.ins().iconst(types::I64, 0);
        let result = self.call_helper(self.helpers.time_call, arg, t, zero);
        let failed = self
            .builder
            .ins()
            .icmp_imm_s(IntCC::SignedLessThan, result, 0);
        self.fail_if(failed, status::OVERFLOW, site);
        result
    }

    /// `hour_of_day` or `weekday` at a fixed UTC offset, computed in line (a zone that
    /// never changed its offset needs no table): as `time::local`.
    fn local_time(&mut self, t: Value, offset: i64, weekday: bool, site: u32) -> Value {
        let offset = self.builder.ins().iconst(types::I64, offset);
        let (local, overflowed) = self.builder.ins().sadd_overflow(t, offset);
        self.fail_if(overflowed, status::OVERFLOW, site);
        let seconds = self.rem_euclid(local, 86_400);
        if !weekday {
            return self.builder.ins().sdiv_imm_s(seconds, 3_600);
        }
        // Whole days since 1970 (exact: `local - seconds` is a multiple of a day), and
        // 1970-01-01 was a Thursday (3, counting Monday as 0).
        let midnight = self.builder.ins().isub(local, seconds);
        let days = self.builder.ins().sdiv_imm_s(midnight, 86_400);
        let shifted = self.builder.ins().iadd_imm_s(days, 3);
        self.rem_euclid(shifted, 7)
    }

    /// `x.rem_euclid(m)` for a positive constant `m`.
    fn rem_euclid(&mut self, x: Value, m: i64) -> Value {
        let rem = self.builder.ins().srem_imm_s(x, m);
        let negative = self.builder.ins().icmp_imm_s(IntCC::SignedLessThan, rem, 0);
        let lifted = self.builder.ins().iadd_imm_s(rem, m);
        self.builder.ins().select(negative, lifted, rem)
    }

    /// Calls a helper `fn(env, arg, a, b) -> i64`; every operand is 64-bit (a string
    /// id, a set value, a timestamp).
    fn call_helper(&mut self, helper: FuncRef, arg: Value, a: Value, b: Value) -> Value {
        let call = self.builder.ins().call(helper, &[self.env, arg, a, b]);
        match self.builder.inst_results(call) {
            [result] => *result,
            _ => self.builder.ins().iconst(types::I64, 0),
        }
    }

    fn translate_short_circuit(&mut self, a: &Expr, b: &Expr, is_and: bool) -> Value {
        if is_eager(b) {
            // The right side cannot fail or call: evaluate both and combine, no branch.
            let left = self.translate_expr(a);
            let right = self.translate_expr(b);
            return if is_and {
                self.builder.ins().band(left, right)
            } else {
                self.builder.ins().bor(left, right)
            };
        }
        let left = self.translate_expr(a);
        let rhs_block = self.builder.create_block();
        let merge = self.builder.create_block();
        let result = self.builder.append_block_param(merge, types::I8);
        if is_and {
            self.builder
                .ins()
                .brif(left, rhs_block, &[], merge, &[BlockArg::Value(left)]);
        } else {
            self.builder
                .ins()
                .brif(left, merge, &[BlockArg::Value(left)], rhs_block, &[]);
        }
        self.builder.switch_to_block(rhs_block);
        let right = self.translate_expr(b);
        self.builder.ins().jump(merge, &[BlockArg::Value(right)]);
        self.builder.switch_to_block(merge);
        result
    }

    fn translate_compare(&mut self, op: CmpOp, kind: Kind, x: Value, y: Value) -> Value {
        match kind {
            Kind::Float => self.builder.ins().fcmp(float_cc(op), x, y),
            Kind::Int => self.builder.ins().icmp(int_cc(op), x, y),
            Kind::Bool | Kind::Str | Kind::Enum | Kind::Tier => {
                let cc = if op == CmpOp::Ne {
                    IntCC::NotEqual
                } else {
                    IntCC::Equal
                };
                self.builder.ins().icmp(cc, x, y)
            }
        }
    }

    fn translate_arith(&mut self, op: ArithOp, kind: Kind, x: Value, y: Value, site: u32) -> Value {
        if kind == Kind::Float {
            return match op {
                ArithOp::Add => self.builder.ins().fadd(x, y),
                ArithOp::Sub => self.builder.ins().fsub(x, y),
                ArithOp::Mul => self.builder.ins().fmul(x, y),
                ArithOp::Div => {
                    let zero = self.builder.ins().f64const(0.0);
                    let by_zero = self.builder.ins().fcmp(FloatCC::Equal, y, zero);
                    self.fail_if(by_zero, status::DIVISION_BY_ZERO, site);
                    self.builder.ins().fdiv(x, y)
                }
                // The checker allows `%` on integers only; Cranelift has no float
                // remainder, so a float reaching here fails closed.
                ArithOp::Rem => {
                    let always = self.builder.ins().iconst(types::I8, 1);
                    self.fail_if(always, status::OVERFLOW, site);
                    x
                }
            };
        }
        match op {
            ArithOp::Add | ArithOp::Sub | ArithOp::Mul => {
                let (result, overflowed) = match op {
                    ArithOp::Add => self.builder.ins().sadd_overflow(x, y),
                    ArithOp::Sub => self.builder.ins().ssub_overflow(x, y),
                    _ => self.builder.ins().smul_overflow(x, y),
                };
                self.fail_if(overflowed, status::OVERFLOW, site);
                result
            }
            ArithOp::Div | ArithOp::Rem => {
                let by_zero = self.builder.ins().icmp_imm_s(IntCC::Equal, y, 0);
                self.fail_if(by_zero, status::DIVISION_BY_ZERO, site);
                let is_min = self.builder.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                let minus_one = self.builder.ins().icmp_imm_s(IntCC::Equal, y, -1);
                let overflow = self.builder.ins().band(is_min, minus_one);
                self.fail_if(overflow, status::OVERFLOW, site);
                if op == ArithOp::Div {
                    self.builder.ins().sdiv(x, y)
                } else {
                    self.builder.ins().srem(x, y)
                }
            }
        }
    }
}

/// The guard's signature: `fn(rec: *const RawRecord, out: *mut u64)`; a part's adds
/// the tier and returns whether it failed.
pub(crate) fn part_signature(
    sig: &mut cranelift_codegen::ir::Signature,
    pointer: Type,
    part: &Part,
) {
    sig.params.push(AbiParam::new(pointer));
    sig.params.push(AbiParam::new(pointer));
    if part.is_callee() {
        sig.params.push(AbiParam::new(types::I64));
        sig.returns.push(AbiParam::new(types::I8));
    }
}

/// The call helpers' signature: `fn(env: *const c_void, arg: i64, a: i64, b: i64) ->
/// i64`.
pub(crate) fn call_signature(sig: &mut cranelift_codegen::ir::Signature, pointer: Type) {
    sig.params.push(AbiParam::new(pointer));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I64));
}

/// The set helper's signature: `fn(items: *const u32, packed: u64, id: u64) -> u8`.
pub(crate) fn str_set_signature(sig: &mut cranelift_codegen::ir::Signature, pointer: Type) {
    sig.params.push(AbiParam::new(pointer));
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I8));
}

/// `starts_with`/`ends_with` of a string with a literal short enough to test in line,
/// with no case mapping: the literal's bytes and whether it is a suffix.
fn affix_of_literal<'a>(
    policy: &'a Policy,
    call: u32,
    b: Option<&Expr>,
) -> Option<(&'a [u8], bool)> {
    let spec = policy.calls.str_calls.get(call as usize)?;
    let at_end = match spec.func {
        StrFunc::StartsWith => false,
        StrFunc::EndsWith => true,
        _ => return None,
    };
    if !spec.a_cases.is_empty() || !spec.b_cases.is_empty() {
        return None;
    }
    let Some(Expr::Str(id)) = b else { return None };
    let literal = policy.strings.get(*id as usize)?.as_bytes();
    (literal.len() <= MAX_AFFIX_IN_LINE).then_some((literal, at_end))
}

/// Whether the JIT's code for `policy` reads string bytes through the record's text
/// tables: a decision need not build them otherwise.
pub(crate) fn reads_texts_in_line(policy: &Policy) -> bool {
    let roots = policy
        .tiers
        .iter()
        .filter_map(|t| t.cond.as_ref())
        .chain(policy.rules.iter().map(|r| &r.cond))
        .chain(
            policy
                .duties
                .iter()
                .flat_map(|d| d.when.iter().chain(d.requires.iter().map(|r| &r.cond))),
        )
        .chain(policy.triggers.iter().map(|t| &t.cond));
    let mut stack: Vec<&Expr> = roots.collect();
    while let Some(e) = stack.pop() {
        if let Expr::StrCall { call, b, .. } = e
            && affix_of_literal(policy, *call, b.as_deref()).is_some()
        {
            return true;
        }
        stack.extend(e.children());
    }
    false
}
