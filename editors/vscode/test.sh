#!/usr/bin/env bash
# The VS Code extension from a clean install: its TextMate grammar tokenized as VS Code
# does, then the bundle and the .vsix, whose contents are checked.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
node test/grammar.test.js
rm -f bylaw.vsix
npm run --silent package
listing=$(unzip -l bylaw.vsix)
for part in extension/dist/extension.js extension/package.json extension/LICENSE.txt \
  extension/syntaxes/bylaw.tmLanguage.json extension/language-configuration.json; do
  grep -q "$part" <<<"$listing" || { echo "bylaw.vsix lacks $part" >&2; exit 1; }
done
if grep -q "node_modules/" <<<"$listing"; then
  echo "bylaw.vsix holds node_modules: the bundle should" >&2
  exit 1
fi
# The bundle carries the language client: the extension needs nothing installed.
bundle=$(unzip -p bylaw.vsix extension/dist/extension.js)
grep -q "textDocument/foldingRange" <<<"$bundle" \
  || { echo "the bundle lacks vscode-languageclient" >&2; exit 1; }
echo "vscode: bylaw.vsix packaged ($(wc -c < bylaw.vsix) bytes)"
