// Starts `bylaw lsp` over stdio for .bylaw files. Everything else — diagnostics,
// hover, definitions, completion, formatting, quick fixes — comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("bylaw").get("path") || "bylaw";
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "bylaw",
    "Bylaw",
    { run: server, debug: server },
    { documentSelector: [{ scheme: "file", language: "bylaw" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
