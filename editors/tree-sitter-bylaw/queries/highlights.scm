; Highlighting for Bylaw. Capture names follow nvim-treesitter / Helix conventions.

(comment) @comment

(string) @string
(escape_sequence) @string.escape
(relative_path) @string.special.path

(integer) @number
(float) @number.float
(percent) @number
(duration) @number

(boolean) @boolean
(null) @constant.builtin
(tier) @variable.builtin

; Declarations and the names they introduce.
[
  "policy" "version" "use" "enum" "schema" "event" "def" "tiers" "default" "clock" "sensitive"
  "duty" "trigger" "service" "fixture" "test" "assert"
] @keyword

[
  "when" "otherwise" "because" "cite" "effective" "applies" "to" "require"
  "else" "retain" "report" "within" "notice" "count" "rate" "by" "then" "suspend" "for"
  "degrade" "notify" "block" "fallback" "recovery" "cooldown" "approve" "ramp" "every"
  "timeout" "given" "expect" "where" "set"
] @keyword

(contextual_keyword) @keyword

; `tier` is a keyword in a duty, a test or an assertion, and the decided tier in an
; expression.
(applies_clause "tier" @keyword)
(expectation "tier" @keyword)
(assert_expectation "tier" @keyword)

[ "and" "or" "not" "in" ] @keyword.operator

"has" @function.builtin

(outcome) @keyword.return

(policy_declaration name: (identifier) @module)
(module_path (identifier) @module)

(enum_declaration name: (identifier) @type)
(enum_member) @constant
(type_identifier) @type
(schema_declaration name: (identifier) @type)
(event_declaration name: (identifier) @type)

(def_declaration name: (identifier) @constant)
(tier_entry name: (identifier) @label)
(rule_declaration name: (identifier) @function)
(duty_declaration name: (identifier) @function)
(trigger_declaration name: (identifier) @function)
(service_declaration name: (identifier) @function)
(fixture_declaration name: (identifier) @function)
(test_declaration fixture: (identifier) @function)

(field_path (identifier) @property)

(call_expression function: (identifier) @function.call)

[ "==" "!=" "<=" ">=" "+" "-" "*" "/" "%" "??" "=" "?" ] @operator
(comparison_operator) @operator

[ "," ":" "::" "." ] @punctuation.delimiter
[ "{" "}" "(" ")" ] @punctuation.bracket
(type [ "<" ">" ] @punctuation.bracket)
