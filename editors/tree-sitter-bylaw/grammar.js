/**
 * @file Bylaw: policy-as-code for governing AI services.
 *
 * The same language as `grammar/bylaw.lalrpop` (the compiler's grammar), for
 * editors: highlighting, folding, indentation and locals in Neovim, Helix, Zed and on
 * GitHub. A test keeps the two in step: every file the compiler parses, this parses
 * without an error node (`tests/tree_sitter.rs`).
 */

/* eslint-disable arrow-parens, camelcase, no-undef */

// Every keyword of the lexer (src/syntax/lexer.rs). After a `.` in a field path and
// after `./` in a module path any of them is a plain word (`usage.count`).
const KEYWORDS = [
  'policy', 'version', 'use', 'enum', 'schema', 'def', 'tiers', 'tier', 'when',
  'otherwise', 'cite', 'default', 'allow', 'deny', 'escalate', 'because', 'duty',
  'applies', 'to', 'require', 'else', 'retain', 'report', 'within', 'notice', 'trigger',
  'count', 'rate', 'by', 'then', 'suspend', 'for', 'degrade', 'notify', 'block',
  'service', 'fallback', 'recovery', 'cooldown', 'approve', 'ramp', 'every', 'timeout',
  'fixture', 'test', 'given', 'expect', 'and', 'or', 'not', 'in', 'has', 'true', 'false',
  'null', 'set', 'clock', 'effective', 'event', 'where', 'assert',
];

// Loose to tight, as the compiler's grammar: or, and, prefix not, one
// non-associative comparison level, ??, + -, * / %, unary minus.
const PREC = {
  or: 1, and: 2, not: 3, compare: 4, coalesce: 5, sum: 6, product: 7, unary: 8,
};

const UNIT_WORDS = [
  'seconds', 'second', 'minutes', 'minute', 'hours', 'hour', 'days', 'day', 'weeks',
  'week', 'months', 'month', 'years', 'year',
];

function commaSep(rule) {
  return optional(commaSep1(rule));
}

function commaSep1(rule) {
  return seq(rule, repeat(seq(',', rule)), optional(','));
}

module.exports = grammar({
  name: 'bylaw',

  extras: $ => [/[\s\uFEFF]/, $.comment],

  word: $ => $.identifier,

  rules: {
    source_file: $ => repeat($._declaration),

    _declaration: $ => choice(
      $.policy_declaration,
      $.use_declaration,
      $.enum_declaration,
      $.schema_declaration,
      $.event_declaration,
      $.def_declaration,
      $.tiers_declaration,
      $.default_declaration,
      $.rule_declaration,
      $.clock_declaration,
      $.duty_declaration,
      $.trigger_declaration,
      $.service_declaration,
      $.fixture_declaration,
      $.test_declaration,
      $.assert_declaration,
    ),

    // ------------------------------------------------------------ declarations

    policy_declaration: $ => seq(
      'policy', field('name', $.identifier), 'version', field('version', $.string),
    ),

    use_declaration: $ => seq(
      'use',
      field('module', choice($.module_path, $.relative_path)),
      optional(field('parameters', $.field_values)),
    ),

    module_path: $ => seq($.identifier, repeat(seq('::', $.identifier))),

    // `./common/labels`, `../lib/common`: one token, a file beside the policy.
    relative_path: _ => token(seq(
      choice('./', repeat1('../')),
      /[A-Za-z_][A-Za-z0-9_]*/,
      repeat(seq('/', /[A-Za-z_][A-Za-z0-9_]*/)),
    )),

    enum_declaration: $ => seq(
      'enum', field('name', $.identifier),
      '{', commaSep(alias($.identifier, $.enum_member)), '}',
    ),

    schema_declaration: $ => seq('schema', field('name', $.identifier), $.field_list),

    event_declaration: $ => seq('event', field('name', $.identifier), $.field_list),

    field_list: $ => seq('{', repeat(seq($.field_declaration, optional(','))), '}'),

    field_declaration: $ => seq(
      field('field', $.field_path),
      ':',
      field('type', $.type),
      optional(seq('=', field('default', $._expression))),
      // Masked wherever requests are logged (a contextual word, as in the compiler).
      optional(field('sensitive', 'sensitive')),
    ),

    type: $ => seq(
      choice(
        alias($.identifier, $.type_identifier),
        seq('set', '<', alias($.identifier, $.type_identifier), '>'),
      ),
      optional('?'),
    ),

    def_declaration: $ => seq(
      'def', field('name', $.identifier),
      optional(seq(':', field('type', $.type))),
      '=', field('value', $._expression),
    ),

    tiers_declaration: $ => seq('tiers', '{', repeat($.tier_entry), '}'),

    tier_entry: $ => seq(
      field('name', $.identifier),
      choice(seq('when', field('condition', $._expression)), 'otherwise'),
      optional($.cite_clause),
    ),

    default_declaration: $ => seq('default', $.outcome),

    outcome: _ => choice('allow', 'deny', 'escalate'),

    rule_declaration: $ => seq(
      field('outcome', $.outcome),
      optional(field('name', $.identifier)),
      'when', field('condition', $._expression),
      'because', field('reason', $.string),
      optional($.cite_clause),
      optional($.effective_clause),
    ),

    cite_clause: $ => seq('cite', $.string),

    // `effective from date("…") until date("…")`: `from` and `until` are plain words.
    effective_clause: $ => seq(
      'effective', alias($.identifier, $.contextual_keyword), field('from', $._expression),
      optional(seq(alias($.identifier, $.contextual_keyword), field('until', $._expression))),
    ),

    clock_declaration: $ => seq('clock', $.field_path),

    duty_declaration: $ => seq(
      'duty', field('name', $.identifier), '{', repeat($._duty_item), '}',
    ),

    _duty_item: $ => choice(
      $.applies_clause,
      $.require_clause,
      $.retain_clause,
      $.report_clause,
      $.notice_clause,
      $.cite_clause,
      $.effective_clause,
    ),

    applies_clause: $ => seq('applies', choice(
      seq('to', 'tier', commaSep1($.identifier)),
      seq('when', field('condition', $._expression)),
    )),

    require_clause: $ => seq(
      'require', field('condition', $._expression),
      'else', $.outcome, field('message', $.string),
    ),

    retain_clause: $ => seq('retain', choice($.duration, $.identifier)),

    report_clause: $ => seq('report', field('recipient', $.string), 'within', $.duration),

    notice_clause: $ => seq('notice', $.string),

    trigger_declaration: $ => seq(
      'trigger', field('name', $.identifier), '{',
      'when', choice('count', 'rate'),
      '(', field('condition', $._expression), optional(seq('where', field('filter', $._expression))), ')',
      'within', field('window', $._amount),
      optional(seq('by', field('key', $.field_path))),
      optional(seq(alias($.identifier, $.contextual_keyword), $.integer)),
      $.comparison_operator,
      field('threshold', choice($.integer, $.float, $.percent, $.identifier)),
      'then', commaSep1($.action),
      optional($.cite_clause),
      optional($.effective_clause),
      '}',
    ),

    _amount: $ => choice($.duration, $.identifier),

    action: $ => choice(
      seq('suspend', field('service', $.identifier), optional(seq('for', $._amount))),
      seq('degrade', field('service', $.identifier)),
      seq('notify', field('channel', $.string)),
      seq(
        'report', field('recipient', $.string), 'within', $._amount,
        optional(seq(alias($.identifier, $.contextual_keyword), 'event')),
      ),
      seq('block', field('key', $.field_path), 'for', $._amount),
    ),

    service_declaration: $ => seq(
      'service', field('name', $.identifier), '{',
      repeat(choice($.fallback_clause, $.recovery_block, $.cite_clause)),
      '}',
    ),

    fallback_clause: $ => seq('fallback', $.string),

    recovery_block: $ => seq('recovery', '{', repeat($._recovery_item), '}'),

    _recovery_item: $ => choice(
      seq('cooldown', $.duration),
      seq('approve', 'by', field('role', $.string)),
      seq('ramp', commaSep1($.percent), 'every', $.duration),
      seq('timeout', $.duration),
      seq('require', 'report', alias($.identifier, $.contextual_keyword)),
    ),

    fixture_declaration: $ => seq(
      'fixture', field('name', $.identifier), '{', commaSep($.field_value), '}',
    ),

    test_declaration: $ => seq(
      'test', field('name', $.string), '{',
      'given', field('fixture', $.identifier), optional($.field_values),
      'expect', $.outcome, repeat(seq(',', $.expectation)),
      '}',
    ),

    expectation: $ => choice(
      seq('tier', $.identifier),
      seq('duty', $.identifier),
      seq(alias($.identifier, $.contextual_keyword), $.identifier),
    ),

    assert_declaration: $ => seq(
      'assert', field('name', $.string), '{',
      'when', field('condition', $._expression),
      'expect', commaSep1($.assert_expectation),
      '}',
    ),

    assert_expectation: $ => seq(
      optional('not'),
      choice($.outcome, seq('tier', $.identifier), seq('duty', $.identifier)),
    ),

    field_values: $ => seq('{', commaSep($.field_value), '}'),

    field_value: $ => seq(field('field', $.field_path), ':', field('value', $._expression)),

    // ------------------------------------------------------------ expressions

    _expression: $ => choice(
      $.binary_expression,
      $.not_expression,
      $.unary_expression,
      $.field_path,
      $.tier,
      $.has_expression,
      $.call_expression,
      $.parenthesized_expression,
      $.set_expression,
      $._literal,
    ),

    binary_expression: $ => choice(
      prec.left(PREC.or, seq(field('left', $._expression), 'or', field('right', $._expression))),
      prec.left(PREC.and, seq(field('left', $._expression), 'and', field('right', $._expression))),
      // The compiler refuses `a < b < c` (E0010); an editor need not.
      prec.left(PREC.compare, seq(
        field('left', $._expression),
        choice($.comparison_operator, 'in'),
        field('right', $._expression),
      )),
      prec.right(PREC.coalesce, seq(field('left', $._expression), '??', field('right', $._expression))),
      ...['+', '-'].map(op => prec.left(PREC.sum, seq(field('left', $._expression), op, field('right', $._expression)))),
      ...['*', '/', '%'].map(op => prec.left(PREC.product, seq(field('left', $._expression), op, field('right', $._expression)))),
    ),

    comparison_operator: _ => choice('==', '!=', '<', '<=', '>', '>='),

    not_expression: $ => prec(PREC.not, seq('not', $._expression)),

    unary_expression: $ => prec(PREC.unary, seq('-', $._expression)),

    // `user.age`, `service`, `usage.count`: after a dot, keywords are words.
    field_path: $ => prec.right(seq(
      choice($.identifier, alias('service', $.identifier)),
      repeat(seq('.', choice($.identifier, ...KEYWORDS.map(k => alias(k, $.identifier))))),
    )),

    tier: _ => 'tier',

    has_expression: $ => seq('has', '(', $.field_path, ')'),

    call_expression: $ => seq(
      field('function', $.identifier), '(', commaSep($._expression), ')',
    ),

    parenthesized_expression: $ => seq('(', $._expression, ')'),

    set_expression: $ => seq('{', commaSep($._expression), '}'),

    _literal: $ => choice(
      $.boolean, $.null, $.string, $.integer, $.float, $.duration, $.percent,
    ),

    boolean: _ => choice('true', 'false'),

    null: _ => 'null',

    string: $ => seq('"', repeat(choice($.string_content, $.escape_sequence)), '"'),

    string_content: _ => token.immediate(prec(1, /[^"\\\n]+/)),

    escape_sequence: _ => token.immediate(/\\[^\n]/),

    integer: _ => /[0-9]+/,

    float: _ => /[0-9]+\.[0-9]+/,

    percent: _ => /[0-9]+(\.[0-9]+)?%/,

    // `30d`, `5m`, `6 months` (a unit word on the same line).
    duration: _ => token(choice(
      /[0-9]+[A-Za-z_][A-Za-z0-9_]*/,
      seq(/[0-9]+/, /[ \t]+/, choice(...UNIT_WORDS)),
    )),

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    comment: _ => token(seq('//', /[^\n]*/)),
  },
});
