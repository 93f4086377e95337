package functions

default allow := false

allow if {
	not retired
	not contains(input.prompt, "ignore previous instructions")
	not regex.match(`^(sudo|rm -rf) `, input.prompt)
}

retired if startswith(input.model, "gpt-3")

retired if startswith(input.model, "davinci")
