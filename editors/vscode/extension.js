// The VS Code client of `campaign lsp`: starts the server over stdio for
// .campaign files. Install campaignlang with its lsp extra first
// (pip install 'campaignlang[lsp]'); docs/editors.md says more.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("campaign");
  const [command, ...args] = config.get("server.command", ["campaign", "lsp"]);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "campaign" }],
    initializationOptions: { debounce_ms: config.get("server.debounceMs", 50) },
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.campaign"),
    },
  };
  client = new LanguageClient("campaign", "Campaign language server", serverOptions, clientOptions);
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
