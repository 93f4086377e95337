[
  (enum_declaration)
  (field_list)
  (tiers_declaration)
  (duty_declaration)
  (trigger_declaration)
  (service_declaration)
  (recovery_block)
  (fixture_declaration)
  (test_declaration)
  (assert_declaration)
  (field_values)
  (set_expression)
] @indent.begin

"}" @indent.end @indent.branch
")" @indent.branch
