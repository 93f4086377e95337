// Tokenizes lines with the extension's TextMate grammar, as VS Code does
// (vscode-textmate with the Oniguruma engine), and checks the scopes of words that
// the grammar used to get wrong: keywords after a `.` in a field path are fields.
const fs = require("fs");
const path = require("path");
const assert = require("assert");
const oniguruma = require("vscode-oniguruma");
const textmate = require("vscode-textmate");

async function main() {
  const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () =>
      textmate.parseRawGrammar(
        fs.readFileSync(path.join(__dirname, "..", "syntaxes", "bylaw.tmLanguage.json"), "utf8"),
        "bylaw.tmLanguage.json"
      ),
  });
  const grammar = await registry.loadGrammar("source.bylaw");
  const scopeOf = (line, word, nth = 0) => {
    const { tokens } = grammar.tokenizeLine(line, textmate.INITIAL);
    let at = -1;
    for (let i = 0; i <= nth; i++) at = line.indexOf(word, at + 1);
    const token = tokens.find((t) => t.startIndex <= at && at < t.endIndex);
    return token.scopes[token.scopes.length - 1];
  };
  const cases = [
    ["deny when usage.count > 3 because \"x\"", "count", "variable.other.property.bylaw"],
    ["deny when usage.count > 3 because \"x\"", "deny", "support.constant.outcome.bylaw"],
    ["deny when usage.count > 3 because \"x\"", "when", "keyword.control.bylaw"],
    ["  flags.default: bool", "default", "variable.other.property.bylaw"],
    ["def x = scores.toxicity >= 0.5 and tier == high", "tier", "keyword.control.bylaw"],
    ["def x = scores.toxicity >= 0.5", "0.5", "constant.numeric.bylaw"],
    ["retain 6 months", "6 months", "constant.numeric.duration.bylaw"],
    ["// a comment with deny in it", "deny", "comment.line.double-slash.bylaw"],
  ];
  for (const [line, word, scope] of cases) {
    assert.strictEqual(scopeOf(line, word), scope, `${JSON.stringify(line)}: ${word}`);
  }
  console.log(`grammar: ${cases.length} scopes as expected`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
