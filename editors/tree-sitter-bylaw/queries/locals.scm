; One scope: a policy file. Its definitions: defs, enums and their members, fixtures,
; tiers, duties, services.
(source_file) @local.scope

(def_declaration name: (identifier) @local.definition.constant)
(enum_declaration name: (identifier) @local.definition.type)
(enum_member) @local.definition.constant
(fixture_declaration name: (identifier) @local.definition.function)
(tier_entry name: (identifier) @local.definition.constant)
(duty_declaration name: (identifier) @local.definition.function)
(service_declaration name: (identifier) @local.definition.function)

(field_path . (identifier) @local.reference)
(test_declaration fixture: (identifier) @local.reference)
