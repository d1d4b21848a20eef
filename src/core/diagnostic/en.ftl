# What `uic lint` says, in English. Every message here exists in fr.ftl with
# the same variables (a unit test checks it). Code quoted from a flow stays
# between backquotes.

## Levels, as printed before each message

level-error = error
level-warning = warning

## YAML syntax

yaml-list-unclosed = a list in square brackets is not closed{ $opened ->
        [0] {""}
       *[other] { " " }(opened on line { $opened })
    }: add the `]` at its end, and commas between its items
yaml-mapping-unclosed = a mapping in curly braces is not closed{ $opened ->
        [0] {""}
       *[other] { " " }(opened on line { $opened })
    }: add the `{"}"}` at its end, and commas between its entries
yaml-tab = this line is indented with a tab: YAML needs spaces, replace the tab with spaces
yaml-backslash = a backslash inside double quotes must be doubled, or put the text in single quotes
yaml-backslash-escape = a backslash inside double quotes must be doubled — write `\\{ $char }` instead of `\{ $char }`, or put the text in single quotes
yaml-item-dedented = this line is indented less than the list it belongs to: line up its `-` with the `-` on line { $item }
yaml-not-aligned = this line is not indented like the entries around it{ $opened ->
        [0] {""}
       *[other] { " " }(in the block starting on line { $opened })
    }: line it up with the keys it belongs with
yaml-over-indented = this line is indented more than `{ $key }` on line { $line }, so it reads as the rest of its value: line it up with `{ $key }`
yaml-colon-in-value = a colon followed by a space starts a new key, and this line already has one: put the value in quotes
yaml-colon-in-value-example = a colon followed by a space starts a new key, and this line already has one: put the value in quotes, e.g. `{ $key }: "{ $value }"`
yaml-quote-unclosed = this quote `{ $quote }` is never closed: add the closing `{ $quote }` at the end of the value
yaml-expected-colon = a key must be followed by `: `; if this line continues the text above, put that text in quotes
yaml-other = YAML syntax: { $detail }

## The flow file's shape (its JSON Schema)

schema-comment = the first line should be `{ $comment }../schemas/flow.schema.json` so editors check the file
schema-at-root = the flow
schema-at-path = `{ $path }`
schema-unknown-key = unknown key `{ $key }`
schema-unknown-key-hint = unknown key `{ $key }` (did you mean `{ $hint }`?)
schema-required = { $at } is missing the required key `{ $key }`
schema-type = { $at }: { $value } is not { $expected }
schema-enum = { $at }: { $value } is not one of { $options }
schema-const = { $at }: must be { $expected }
schema-pattern = { $at }: { $value } is not written as expected (the form is `{ $pattern }`)
schema-min-length = { $at }: { $value } is too short: at least { $limit ->
        [one] one character
       *[other] { $limit } characters
    }
schema-minimum = { $at }: { $value } is less than { $limit }, the smallest allowed
schema-min-items = { $at }: needs at least { $limit ->
        [one] one item
       *[other] { $limit } items
    }
schema-min-properties = { $at }: needs at least { $limit ->
        [one] one entry
       *[other] { $limit } entries
    }
schema-unique-items = { $at }: { $value } lists the same item twice
schema-other = { $at }: { $detail }
type-integer = a whole number
type-number = a number
type-string = a text
type-boolean = true or false
type-array = a list
type-object = a set of `key: value` entries
type-null = empty

## The flow

flow-unreadable = cannot read flow: { $detail }
flow-id-taken = flow id `{ $id }` is also used by { $file }
flow-extends-itself = flow `{ $id }` builds on itself through `{ $base }`
flow-extends-unknown = `extends` names unknown flow `{ $base }`
flow-default-language = default language `{ $language }` is not in `languages`
flow-language-undeclared = language `{ $language }` is not in `languages`
flow-language-without-texts = flow `{ $flow }` supports `{ $language }` but there are no texts in locales/{ $language }/
flow-unknown-text = unknown text `{ $name }` (known: { $known })
flow-unknown-command = unknown command `{ $name }` (known: { $known })
flow-command-word-taken = `{ $word }` is already the word of another command
version-formula-changed = flow `{ $id }` version { $version } already issued codes with another formula; bump `version` to { $next } so old and new codes stay apart

## Steps, rules and choices

step-duplicate-id = duplicate step id `{ $id }`{ $first ->
        [0] {""}
       *[other] { " " }(first defined on line { $first })
    }
step-unknown-preset = unknown normaliser `{ $name }` (presets: name, place, code, number, text, none; steps: trim, fold, upper, letters, digits, alnum, number, number_in_text)
step-unknown-normaliser = unknown normaliser `{ $name }` (known: trim, fold, upper, letters, digits, alnum, number, number_in_text)
step-unknown-cleaner = unknown cleaner `{ $name }` (known: { $known })
step-choices-need-error = a step with choices needs an `error` message id for answers that match none
step-unused = the answer to step `{ $step }` is used by neither the formula nor the duplicate key: use it in `uic`, or remove the step
rule-on = `on` must be `raw` or `normalized`, not `{ $value }`
rule-needs-error = a validation rule needs an `error` message id
rule-year-max = `max` must be a year or `current`, not `{ $value }`
rule-needs-a-check = a validation rule needs one of regex, min_length, max_length, range, year, one_of, any_of
rule-one-check = a validation rule has exactly one check; write several rules, each with its own error
choice-same-value = choices { $first } and { $second } have the same value `{ $value }`: give each choice its own value
choice-same-synonym = synonym `{ $synonym }` is given to choices { $first } and { $second }: an answer `{ $synonym }` would always pick choice { $first }; keep it in one choice

## Regular expressions

regex-invalid = invalid regular expression: { $reason }
regex-invalid-at = invalid regular expression: { $reason }, at character { $position } (`{ $char }`) of `{ $pattern }`
regex-invalid-at-end = invalid regular expression: { $reason }, at the end of `{ $pattern }`
regex-invalid-in = invalid regular expression: { $reason }, in `{ $pattern }`

## Examples

example-unknown-step = example names unknown step `{ $step }`
example-needs-one = an example needs exactly one of `uic` and `uic_pattern`
example-missing-answer = example { $number } has no answer for step `{ $step }`
example-refused = example { $number }: answer `{ $typed }` to step `{ $step }` is refused ({ $reason })
example-off-pattern = example { $number }: the formula makes `{ $code }`, which does not match the output pattern `{ $pattern }`
example-fails = example { $number }: { $detail }
example-gives = example { $number } gives `{ $made }`, expected { $expected }
example-expected-code = `{ $code }`
example-expected-pattern = a code matching `{ $pattern }`

## Formulas

formula-what-formula = formula
formula-what-key = duplicate key
formula-what-attribute = DHIS2 attribute { $attribute }
formula-does-not-parse = { $what } does not parse: { $detail }
formula-unknown-steps = { $what } names unknown { $count ->
        [one] step
       *[other] steps
    } { $names } (the steps are: { $known })
formula-fails = { $what } fails: { $detail }
formula-unknown-filter = { $what } uses unknown filter `{ $name }` (the project's filters: { $filters }; and minijinja's, such as { $builtin })
formula-unknown-filter-hint = { $what } uses unknown filter `{ $name }` (did you mean `{ $meant }`?)
formula-unknown-filter-other = { $what } uses an unknown filter: { $detail } (the project's filters: { $filters })
filter-needs-length = filter `{ $filter }` needs the length to pad to, e.g. `{ $filter }(3)` or `{ $filter }(n=3)`
filter-fill = filter `{ $filter }` wants a character in quotes for `fill`, e.g. `{ $filter }({ $n }, fill="{ $fill }")`
filter-too-many-arguments = filter `{ $filter }` takes at most { $max ->
        [one] one argument
       *[other] { $max } arguments
    } ({ $names }), not { $given }
filter-unknown-argument = filter `{ $filter }` has no argument `{ $name }` (its arguments: { $names })
filter-argument-twice = filter `{ $filter }` is given `{ $name }` twice, by position and by name
filter-whole-number = filter `{ $filter }` wants a whole number for `{ $name }`, e.g. `{ $filter }(3)`, not `{ $value }`

## DHIS2

dhis2-typed-answer = { $what } would send the answer to `{ $step }`, which is typed freely and may name the person or a place: only `{ $uic }` and answers chosen from a list may be sent to DHIS2
dhis2-unknown-variable = { $what } names unknown variable `{ $name }` (the code is `{ $uic }`; the steps are: { $known })
dhis2-org-unit-unknown-step = org unit from unknown step `{ $step }` (the steps are: { $known })
dhis2-org-unit-typed = the org unit can only come from a step with choices: `{ $step }` is answered freely, and a place typed by a person is never sent to DHIS2
dhis2-lookup-not-a-choice = `{ $key }` is not a choice of step `{ $step }` (its values: { $values })
dhis2-lookup-missing = no org unit for { $count ->
        [one] choice { $choices } of step `{ $step }`: add it
       *[other] choices { $choices } of step `{ $step }`: add them
    } or a `default`

## Texts (Fluent files)

fluent-not-a-language = `{ $language }` is not a language code
fluent-syntax = Fluent syntax error: { $detail }
fluent-syntax-in-message = Fluent syntax error in message `{ $id }`: { $detail }
message-defined-twice = message `{ $id }` is defined twice in `{ $language }` (also { $place })
message-missing = message `{ $id }` is missing in `{ $language }` (flow `{ $flow }`): add it to { $file }
message-unknown-variable = message `{ $id }` uses variable `${ $variable }`, which is not provided ({ $offered })
message-given-nothing = it is given no variables
message-given = it is given { $variables }
message-variables-differ = message `{ $id }` uses { $variables } in `{ $language }` but { $reference-variables } in `{ $reference }` ({ $place })
variables-none = no variables
message-unused = message `{ $id }` is not used by any flow

## WhatsApp's limits

whatsapp-paged = step `{ $step }` has { $count } choices: WhatsApp lists show { $rows } rows, so they will be paged ({ $per-page } per page + `{ $more }`); people may also type a choice or its number
whatsapp-number-order = choice value `{ $number }` is choice number { $position } of step `{ $step }`, but a typed { $number } picks choice number { $number } (as Twilio and chat number them); put numeric values in order (1, 2, 3…) or use words
whatsapp-label-too-long = choice label `{ $label }` is { $length } characters in `{ $language }`; WhatsApp { $shown } allow { $limit }: shorten it (details can go in the prompt)
whatsapp-reply-buttons = reply buttons
whatsapp-list-rows = list rows
whatsapp-message-too-long = message `{ $id }` is { $length } characters in `{ $language }`; { $shown } allows { $limit }: shorten it
whatsapp-reply-button = a WhatsApp reply button
whatsapp-list-button = the WhatsApp button that opens a list
whatsapp-more-row = the last row of a paged WhatsApp list

## The summary `uic lint` ends with

lint-failed = { $errors ->
        [one] one error
       *[other] { $errors } errors
    }, { $warnings ->
        [one] one warning
       *[other] { $warnings } warnings
    }
lint-passed = ok: no errors, { $warnings ->
        [one] one warning
       *[other] { $warnings } warnings
    }

## Why a regular expression is invalid (the regex crate's commonest reasons)

regex-class-unclosed = a `[` is never closed by a `]`
regex-group-unclosed = a `(` is never closed by a `)`
regex-group-unopened = a `)` closes no `(`
regex-count-unclosed = a `{"{"}` is never closed by a `{"}"}`
regex-count-backwards = in `{"{"}min,max{"}"}` the first number must not be larger than the second
regex-count-not-a-number = `{"{"}…{"}"}` must hold a number or two, like `{"{"}4{"}"}` or `{"{"}2,3{"}"}`
regex-repeats-nothing = `*`, `+`, `?` or `{"{"}…{"}"}` must follow something to repeat (write `\+` for a plain plus)
regex-escape-unknown = this backslash sequence means nothing (write `\\` for a plain backslash)
regex-escape-incomplete = the pattern ends with a lone backslash
regex-range-backwards = in a range `a-z` the first character must come before the second
regex-look-around = look-ahead and look-behind (`(?=`, `(?!`, `(?<=`) are not supported
regex-backreference = backreferences like `\1` are not supported
regex-flag-unknown = unknown flag after `(?`: use i, m, s, x or u

## Why a Fluent file does not parse (the commonest mistakes)

fluent-brace-unclosed = a `{"{"}` is not closed: add the `{"}"}`
fluent-expected-token = `{ $token }` is expected here
fluent-default-variant-missing = a choice of variants needs a default one, marked with `*`, like `*[other]`
fluent-default-variant-twice = only one variant may be the default (`*`)
fluent-no-text = the message has no text after `=`
fluent-quote-unclosed = a text in quotes inside `{"{"} {"}"}` is not closed
fluent-brace-unopened = a `{"}"}` closes nothing: remove it, or write `{"{"}"{"}"}"{"}"}` to show it
fluent-empty-placeable = `{"{"} {"}"}` must hold a variable like `{"{"} $name {"}"}`, a message, or a text in quotes
fluent-parser-says = { $detail }

## Lookup tables

lookup-table-missing = there is no table `{ $table }` beside this flow: put the CSV file in { $folder }
lookup-unreadable = this table cannot be read: { $reason }
lookup-duplicate = `{ $name }` is already on line { $first } with the same code: remove one
lookup-clash = `{ $name }` gives `{ $code }` here but `{ $first-code }` on line { $first }: a name must give one code
lookup-code-changed = the formula turns code `{ $code }` (of `{ $name }`) into `{ $made }` ({ $expression }): write each code as the formula keeps it
