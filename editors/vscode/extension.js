// Starts `bylaw lsp` over stdio for .bylaw files. Everything else — diagnostics,
// hover, definitions, completion, rename, semantic tokens, formatting, quick fixes —
// comes from the server. `bylaw.trace.server` logs the conversation (the client
// reads `<id>.trace.server` itself); "Bylaw: Restart the language server" restarts it.
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
    {
      documentSelector: [{ scheme: "file", language: "bylaw" }],
      // The server reloads its lint levels when bylaw.toml changes.
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/bylaw.toml") },
    }
  );
  context.subscriptions.push(
    client,
    vscode.commands.registerCommand("bylaw.restartServer", () => client.restart())
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
