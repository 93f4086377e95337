//! A real LSP conversation with the `bylaw lsp` binary over stdio: initialize, open,
//! change, hover, definition, references, completion, symbols, formatting, code
//! actions, shutdown. Framing on this side comes from `lsp-server` too.

use std::io::BufReader;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::{Value, json};

struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: i32,
    /// What the server answered to `initialize`.
    capabilities: Value,
}

impl Client {
    fn start() -> Client {
        Client::start_with_root(Value::Null)
    }

    /// A server for the workspace at `root` (a `file://` URI, or null).
    fn start_with_root(root: Value) -> Client {
        Client::start_with(root, &[])
    }

    /// A server for the workspace at `root`, with these environment variables.
    fn start_with(root: Value, env: &[(&str, &std::path::Path)]) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bylaw"))
            .arg("lsp")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut client = Client {
            child,
            stdin,
            stdout,
            next_id: 1,
            capabilities: Value::Null,
        };
        let caps = client.request(
            "initialize",
            json!({"capabilities": {}, "processId": null, "rootUri": root}),
        );
        assert_eq!(caps["capabilities"]["hoverProvider"], true, "{caps}");
        client.capabilities = caps;
        client.notify("initialized", json!({}));
        client
    }

    fn notify(&mut self, method: &str, params: Value) {
        Message::Notification(Notification::new(method.into(), params))
            .write(&mut self.stdin)
            .unwrap();
    }

    /// Sends a request and returns its result, skipping notifications on the way.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        Message::Request(Request::new(RequestId::from(id), method.into(), params))
            .write(&mut self.stdin)
            .unwrap();
        loop {
            match Message::read(&mut self.stdout)
                .unwrap()
                .expect("the server hung up")
            {
                Message::Response(r) if r.id == RequestId::from(id) => {
                    return r
                        .response_result
                        .unwrap_or_else(|e| panic!("{method}: {} {}", e.code, e.message));
                }
                _ => continue,
            }
        }
    }

    /// The next diagnostics the server publishes.
    fn diagnostics(&mut self) -> Vec<Value> {
        loop {
            if let Message::Notification(n) =
                Message::read(&mut self.stdout).unwrap().expect("hung up")
                && n.method == "textDocument/publishDiagnostics"
            {
                return n.params["diagnostics"].as_array().unwrap().clone();
            }
        }
    }

    fn shutdown(mut self) {
        assert_eq!(self.request("shutdown", Value::Null), Value::Null);
        self.notify("exit", Value::Null);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

const URI: &str = "file:///tmp/chat.bylaw";

fn at(line: u32, character: u32) -> Value {
    json!({"textDocument": {"uri": URI}, "position": {"line": line, "character": character}})
}

/// (line, character) of the first occurrence of `needle` in `text`, plus `shift`.
fn find(text: &str, needle: &str, shift: u32) -> (u32, u32) {
    for (i, line) in text.lines().enumerate() {
        if let Some(col) = line.find(needle) {
            return (i as u32, col as u32 + shift);
        }
    }
    panic!("`{needle}` not in the text");
}

#[test]
fn an_editor_session_over_stdio() {
    let text = std::fs::read_to_string(crate::example("genai_chat.bylaw")).unwrap();
    let mut client = Client::start();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let opened = client.diagnostics();
    assert!(
        opened.iter().all(|d| d["severity"] == 2),
        "only lint warnings: {opened:?}"
    );
    assert!(
        opened
            .iter()
            .any(|d| d["code"] == "L0016 missing-cite-rule")
    );

    // Hover: a field's type, a def's body, a citation.
    let (l, c) = find(&text, "user.minor_mode)", 2);
    let hover = client.request("textDocument/hover", at(l, c));
    assert_eq!(
        hover["contents"]["value"],
        "```bylaw\nuser.minor_mode: bool\n```"
    );
    let (l, c) = find(&text, "high       when sensitive_domain", 17);
    let hover = client.request("textDocument/hover", at(l, c));
    assert!(
        hover["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("def sensitive_domain = domain in {medical, judicial, finance}")
    );
    let (l, c) = find(&text, "cite \"PIPL Art. 13\"", 8);
    let hover = client.request("textDocument/hover", at(l, c));
    assert_eq!(hover["contents"]["value"], "**Cites:** PIPL Art. 13");

    // Definition and references of the def.
    let (dl, _) = find(&text, "def sensitive_domain", 0);
    let (ul, uc) = find(&text, "high       when sensitive_domain", 17);
    let definition = client.request("textDocument/definition", at(ul, uc));
    assert_eq!(definition["range"]["start"]["line"], dl);
    let refs = client.request(
        "textDocument/references",
        json!({"textDocument": {"uri": URI}, "position": {"line": ul, "character": uc}, "context": {"includeDeclaration": true}}),
    );
    assert_eq!(refs.as_array().unwrap().len(), 2, "{refs}");

    // Completion in a condition, after `s`: what may be read there and starts so.
    let items = client.request("textDocument/completion", at(ul, uc));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    for expected in ["scores.toxicity", "sensitive_domain", "starts_with"] {
        assert!(
            labels.contains(&expected),
            "{expected} not offered: {labels:?}"
        );
    }
    assert!(labels.iter().all(|l| l.starts_with('s')), "{labels:?}");

    // The outline.
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let names: Vec<&str> = symbols
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"genai_chat")
            && names.contains(&"jailbreak_wave")
            && names.contains(&"deny rule 1"),
        "{names:?}"
    );

    // A change with a typo: the type error comes back with its range.
    let broken = text.replace(
        "deny when scores.toxicity > 0.9",
        "deny when scores.toxicty > 0.9",
    );
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": broken}]}),
    );
    let changed = client.diagnostics();
    let error = changed
        .iter()
        .find(|d| d["severity"] == 1)
        .expect("an error");
    assert!(
        error["code"].as_str().unwrap().starts_with("E0200"),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `scores.toxicity`?"),
        "{error}"
    );
    let (tl, tc) = find(&broken, "scores.toxicty", 0);
    assert_eq!(
        error["range"]["start"],
        json!({"line": tl, "character": tc})
    );

    // Formatting returns the canonical text.
    let messy = "policy p version \"1.0.0\"\nschema request { age: int  verified: bool }\ndefault allow\ndeny   when not verified == true because \"x\"\n";
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [{"text": messy}]}),
    );
    client.diagnostics();
    let edits = client.request(
        "textDocument/formatting",
        json!({"textDocument": {"uri": URI}, "options": {"tabSize": 2, "insertSpaces": true}}),
    );
    assert!(
        edits[0]["newText"]
            .as_str()
            .unwrap()
            .contains("schema request {\n  age: int\n  verified: bool\n}\n"),
        "{edits}"
    );

    // A quick fix for a lint.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": URI}, "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 40}}, "context": {"diagnostics": []}}),
    );
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Write `verified`"), "{titles:?}");
    let edit = actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"] == "Write `verified`")
        .unwrap();
    assert_eq!(edit["edit"]["changes"][URI][0]["newText"], "verified");

    client.shutdown();
}

#[test]
fn the_vscode_extension_starts_the_server_and_colours_every_keyword() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/vscode");
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap()).unwrap();
    assert_eq!(
        package["contributes"]["languages"][0]["extensions"][0],
        ".bylaw"
    );
    let extension = std::fs::read_to_string(dir.join("extension.js")).unwrap();
    assert!(extension.contains(r#"args: ["lsp"]"#));
    // Bundled, with a restart command and the client's own trace setting.
    assert_eq!(package["main"], "./dist/extension.js");
    assert_eq!(
        package["contributes"]["commands"][0]["command"],
        "bylaw.restartServer"
    );
    assert!(extension.contains(r#"registerCommand("bylaw.restartServer""#));
    assert!(
        package["contributes"]["configuration"]["properties"]["bylaw.trace.server"].is_object()
    );
    assert!(dir.join("LICENSE").is_file() && dir.join(".vscodeignore").is_file());
    // `<` and `>` compare; they are not brackets.
    let configuration: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("language-configuration.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(configuration["brackets"], json!([["{", "}"], ["(", ")"]]));
    let grammar = std::fs::read_to_string(dir.join("syntaxes/bylaw.tmLanguage.json")).unwrap();
    let _: Value = serde_json::from_str(&grammar).unwrap();
    for keyword in bylaw::lsp::analysis::KEYWORDS {
        if ["and", "or", "not", "in", "has"].contains(keyword) {
            continue; // coloured as operators
        }
        assert!(
            grammar.contains(&format!("|{keyword}|"))
                || grammar.contains(&format!("({keyword}|"))
                || grammar.contains(&format!("|{keyword})")),
            "the TextMate grammar does not colour `{keyword}`"
        );
    }
}

#[test]
fn hover_explains_what_a_used_module_brings() {
    use bylaw::lsp::analysis::Analysis;
    let text = "policy p version \"1.0.0\"\nuse std::eu::ai_act::high_risk\ntiers {\n  high when eu_high_risk and biometric.verifications < 2\n  low otherwise\n}\ndefault allow\n";
    let analysis = Analysis::new("p.bylaw", text, &Default::default(), &Default::default());
    assert!(
        analysis.diagnostics().iter().all(|d| !d.is_error()),
        "{:?}",
        analysis.diagnostics()
    );
    let at = |needle: &str| text.find(needle).unwrap() as u32 + 2;
    let (_, def) = analysis.hover(at("eu_high_risk")).unwrap();
    assert!(
        def.contains("def eu_high_risk = ") && def.contains("from `std::eu::ai_act::high_risk`"),
        "{def}"
    );
    let (_, field) = analysis.hover(at("biometric.verifications")).unwrap();
    assert_eq!(field, "```bylaw\nbiometric.verifications: int\n```");
}

#[test]
fn a_100000_term_chain_is_analysed_without_overflowing() {
    let terms = vec!["x > 1"; 100_000].join(" and ");
    let text = format!(
        "policy p version \"1.0.0\"\nschema request {{\n  x: int\n}}\n\
         deny when {terms} because \"r\" cite \"T §1\"\n"
    );
    let mut client = Client::start();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let diagnostics = client.diagnostics();
    assert!(
        diagnostics.iter().all(|d| d["severity"] != 1),
        "no errors: {diagnostics:?}"
    );
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    assert!(symbols.is_array(), "{symbols}");
    client.shutdown();
}

impl Client {
    fn raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends a request and returns its whole response (result or error), counting the
    /// diagnostics published on the way.
    fn response(&mut self, method: &str, params: Value) -> (lsp_server::Response, usize) {
        let id = self.next_id;
        self.next_id += 1;
        Message::Request(Request::new(RequestId::from(id), method.into(), params))
            .write(&mut self.stdin)
            .unwrap();
        self.answer_to(RequestId::from(id))
    }

    fn answer_to(&mut self, id: RequestId) -> (lsp_server::Response, usize) {
        let mut published = 0;
        loop {
            match Message::read(&mut self.stdout)
                .unwrap()
                .expect("the server hung up")
            {
                Message::Response(r) if r.id == id => return (r, published),
                Message::Notification(n) if n.method == "textDocument/publishDiagnostics" => {
                    published += 1
                }
                _ => continue,
            }
        }
    }
}

fn framed(body: &str) -> String {
    format!("Content-Length: {}\r\n\r\n{body}", body.len())
}

fn symbols_of(uri: &str) -> Value {
    json!({"textDocument": {"uri": uri}})
}

#[test]
fn malformed_frames_and_bad_params_leave_the_server_serving() {
    let mut client = Client::start();
    let hostile = [
        framed("{not json at all"),
        framed(r#"{"hello": "world"}"#),
        framed(r#"[1, 2, 3]"#),
        "Content-Length: -12\r\n\r\n{}".to_string(),
        "Content-Type: application/json\r\n\r\n{}".to_string(),
        "Content-Length: 18446744073709551616\r\n\r\n".to_string(),
        format!("Content-Length: {}\r\n\r\n", 1u64 << 40),
        "no headers at all, and no newline".to_string(),
        "\u{0}\u{1}binary\u{ff}garbage\r\n\r\n".to_string(),
        "x".repeat(200_000),
        // Valid JSON-RPC with parameters the notifications cannot use.
        framed(r#"{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"bogus":1}}"#),
        framed(r#"{"jsonrpc":"2.0","method":"textDocument/didClose","params":null}"#),
        framed(r#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":"text"}"#),
    ];
    for (i, frame) in hostile.iter().enumerate() {
        client.raw(frame.as_bytes());
        let (answer, _) = client.response("textDocument/documentSymbol", symbols_of(URI));
        // Nothing is open: the server answers, with an error naming the document.
        let error = answer
            .response_result
            .err()
            .unwrap_or_else(|| panic!("frame {i}: no error"));
        assert!(
            error.message.contains("is not open"),
            "frame {i}: {}",
            error.message
        );
    }

    // A request whose body is not a valid message is answered by its id.
    client.raw(framed(r#"{"jsonrpc":"2.0","id":9001,"method":42}"#).as_bytes());
    let (answer, _) = client.answer_to(RequestId::from(9001));
    assert_eq!(
        answer.response_result.err().map(|e| e.code),
        Some(lsp_server::ErrorCode::InvalidRequest as i32)
    );

    // A request with bad params gets InvalidParams; an unknown method MethodNotFound.
    let (answer, _) = client.response("textDocument/hover", json!({"position": "nowhere"}));
    assert_eq!(
        answer.response_result.err().map(|e| e.code),
        Some(lsp_server::ErrorCode::InvalidParams as i32)
    );
    let (answer, _) = client.response("bylaw/noSuchMethod", Value::Null);
    assert_eq!(
        answer.response_result.err().map(|e| e.code),
        Some(lsp_server::ErrorCode::MethodNotFound as i32)
    );

    // didOpen without `languageId` or `version` still opens the document.
    let text = std::fs::read_to_string(crate::example("genai_chat.bylaw")).unwrap();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "text": text}}),
    );
    let (answer, _) = client.response("textDocument/documentSymbol", symbols_of(URI));
    assert!(
        answer
            .response_result
            .as_ref()
            .is_ok_and(|r| r.as_array().is_some_and(|a| !a.is_empty())),
        "{answer:?}"
    );
    client.shutdown();
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(24))]

    /// Any bytes between frames that do not themselves name a `Content-Length` are
    /// skipped, and the next request is answered.
    #[test]
    fn garbage_between_frames_is_skipped(
        garbage in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex("[ -~]{0,200}").unwrap(),
                proptest::string::string_regex("[a-z-]{1,12}: [ -~]{0,40}\r\n").unwrap(),
                proptest::strategy::Just("\r\n".to_string()),
                proptest::strategy::Just("{\"jsonrpc\":\"2.0\",\"id\":1}".to_string()),
            ],
            1..6,
        )
    ) {
        let garbage = garbage.concat();
        proptest::prop_assume!(!garbage.to_ascii_lowercase().contains("content-length"));
        let mut client = Client::start();
        client.raw(garbage.as_bytes());
        let (answer, _) = client.response("textDocument/documentSymbol", symbols_of(URI));
        proptest::prop_assert!(answer.response_result.is_err_and(|e| e.message.contains("is not open")));
        client.shutdown();
    }
}

#[test]
fn rapid_changes_are_analysed_once_on_the_newest_text() {
    let mut client = Client::start();
    let good = std::fs::read_to_string(crate::example("genai_chat.bylaw")).unwrap();
    let mut burst = framed(
        &json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params":
            {"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": "policy"}}})
        .to_string(),
    );
    // Twenty edits, each a broken policy, then the good text: sent in one write, as a
    // fast typist's editor would, before the server has been quiet once.
    for version in 2..22 {
        let text = format!("policy p version \"1.0.0\"\nbroken {version}");
        burst.push_str(&framed(
            &json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
                "textDocument": {"uri": URI, "version": version},
                "contentChanges": [{"text": text}]}})
            .to_string(),
        ));
    }
    burst.push_str(&framed(
        &json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
            "textDocument": {"uri": URI, "version": 22},
            "contentChanges": [{"text": good}]}})
        .to_string(),
    ));
    client.raw(burst.as_bytes());
    // The request is answered on the newest text; the stale ones were never analysed.
    let (answer, published) = client.response("textDocument/documentSymbol", symbols_of(URI));
    let symbols = answer.response_result.unwrap();
    assert_eq!(symbols[0]["name"], "genai_chat", "{symbols}");
    assert!(published <= 2, "{published} analyses for 22 versions");
    client.shutdown();
}

#[test]
fn hover_shows_a_fields_default_and_the_outline_a_rules_name() {
    use bylaw::lsp::analysis::Analysis;
    let text = "policy p version \"1.0.0\"\nschema request {\n  output.deepfake: bool = false\n}\ndeny deepfakes when output.deepfake because \"labelled elsewhere\"\n";
    let analysis = Analysis::new("p.bylaw", text, &Default::default(), &Default::default());
    let at = text.rfind("output.deepfake").unwrap() as u32 + 3;
    let (_, field) = analysis.hover(at).unwrap();
    assert!(field.contains("output.deepfake: bool = false"), "{field}");
    assert!(field.contains("it is `false`"), "{field}");
    let names: Vec<String> = analysis.outline().iter().map(|o| o.name.clone()).collect();
    assert!(names.contains(&"deny deepfakes".to_string()), "{names:?}");
}

#[test]
fn functions_are_offered_and_explained() {
    let text = std::fs::read_to_string(crate::data("guard/functions.bylaw")).unwrap();
    let mut client = Client::start();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    assert!(
        client.diagnostics().iter().all(|d| d["severity"] != 1),
        "the functions policy checks"
    );
    let (l, c) = find(&text, "starts_with(model", 3);
    let hover = client.request("textDocument/hover", at(l, c));
    let value = hover["contents"]["value"].as_str().unwrap();
    assert!(
        value.contains("starts_with(s: string, prefix: string) -> bool")
            && value.contains("begins with"),
        "{value}"
    );
    let items = client.request("textDocument/completion", at(l, c));
    let matches = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["label"] == "starts_with")
        .expect("`starts_with` offered");
    assert_eq!(matches["kind"], 3, "a function");
    assert_eq!(
        matches["detail"],
        "starts_with(s: string, prefix: string) -> bool"
    );
}

/// A parameter named in a trigger (`within NAME`, `>= NAME`, `for NAME`) or a
/// `retain NAME` goes to its `def`.
#[test]
fn a_parameter_in_a_trigger_or_retain_goes_to_its_def() {
    use bylaw::lsp::analysis::Analysis;
    let text = "policy p version \"1.0.0\"\nschema request {\n  user.id: string\n  bad: bool\n}\n\
                def strikes: int = 3\ndef window: duration = 30 days\ndef keep: duration = 6 months\n\
                default allow\nduty d {\n  applies when bad\n  retain keep\n}\n\
                trigger t {\n  when count(bad) within window by user.id >= strikes\n  then block user.id for window\n}\n";
    let analysis = Analysis::new("p.bylaw", text, &Default::default(), &Default::default());
    assert!(
        analysis.diagnostics().iter().all(|d| !d.is_error()),
        "{:?}",
        analysis.diagnostics()
    );
    let def_of = |name: &str| text.find(&format!("def {name}:")).unwrap() as u32 + 4;
    for (needle, name) in [
        (">= strikes", "strikes"),
        ("within window", "window"),
        ("for window", "window"),
        ("retain keep", "keep"),
    ] {
        let at = text.find(needle).unwrap() as u32 + needle.len() as u32 - 1;
        let span = analysis
            .definition(at)
            .unwrap_or_else(|| panic!("no definition at {needle}"));
        assert_eq!(span.start, def_of(name), "{needle}");
    }
    let window = text.find("def window:").unwrap() as u32 + 4;
    assert_eq!(analysis.references(window, false).len(), 2);
}

#[test]
fn the_server_follows_user_modules_into_their_files() {
    let path = crate::data("modules/workspace/chat.bylaw");
    let uri = url::Url::from_file_path(&path).unwrap().to_string();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut client = Client::start();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let opened = client.diagnostics();
    assert!(
        opened.iter().all(|d| d["severity"] != 1),
        "the modules resolve: {opened:?}"
    );
    let position = |(line, character): (u32, u32)| json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
    // A name the module declares: its definition is in the module's file.
    let found = client.request(
        "textDocument/definition",
        position(find(&text, "region == US", 11)),
    );
    assert!(
        found["uri"]
            .as_str()
            .unwrap()
            .ends_with("common/labels.bylaw"),
        "{found}"
    );
    let labels =
        std::fs::read_to_string(crate::data("modules/workspace/common/labels.bylaw")).unwrap();
    let (line, _) = find(&labels, "enum Region", 0);
    assert_eq!(found["range"]["start"]["line"], line, "{found}");
    // The `use` line opens the module.
    let found = client.request(
        "textDocument/definition",
        position(find(&text, "acme::safety::jailbreak", 3)),
    );
    assert!(
        found["uri"]
            .as_str()
            .unwrap()
            .ends_with("lib/acme/safety/jailbreak.bylaw"),
        "{found}"
    );

    // A module with an error shows it on the `use` line, naming the module's file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("broken.bylaw"),
        "policy broken version \"1.0.0\"\nschema request { score: flaot }\n",
    )
    .unwrap();
    let policy = dir.path().join("p.bylaw");
    let uri = url::Url::from_file_path(&policy).unwrap().to_string();
    let text = "policy p version \"1.0.0\"\nuse ./broken\ndefault allow\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let diagnostics = client.diagnostics();
    let error = diagnostics
        .iter()
        .find(|d| d["severity"] == 1)
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(error["range"]["start"]["line"], 1, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("module `broken` has an error") && message.contains("flaot"),
        "{message}"
    );
    client.shutdown();
}

const CONTEXT_BASE: &str = r#"policy p version "1.0.0"
enum Region { EU, CN, US }
schema request {
  service: string
  region: Region
  scores.toxicity: float
  scores.pii: float
  user.age: int
}
tiers {
  high when region == EU
  minimal otherwise
}
service chat { fallback "paused" }
fixture base { service: "chat", region: EU, scores.toxicity: 0.0, scores.pii: 0.0, user.age: 30 }
duty keep_logs {
  applies to tier high
  retain 6 months
}
"#;

/// Completion at the end of `CONTEXT_BASE` + `tail`: the labels, and the start column
/// of the text the first item replaces.
fn complete_after(client: &mut Client, n: usize, tail: &str) -> (Vec<String>, u64) {
    let uri = format!("file:///tmp/context{n}.bylaw");
    let text = format!("{CONTEXT_BASE}{tail}");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let line = text.lines().count() as u32 - u32::from(!text.ends_with('\n'));
    let character = text.rsplit('\n').next().unwrap().len() as u32;
    let items = client.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
    );
    let items = items.as_array().unwrap();
    let labels = items
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect();
    let start = items.first().map_or(0, |i| {
        i["textEdit"]["range"]["start"]["character"]
            .as_u64()
            .unwrap()
    });
    (labels, start)
}

#[test]
fn completion_offers_what_may_be_written_where_the_cursor_is() {
    let mut client = Client::start();
    // After a dot: the next segments, replacing what was typed after the dot.
    let (labels, start) = complete_after(&mut client, 1, "deny when scores.");
    assert_eq!(labels, ["pii", "toxicity"]);
    assert_eq!(start, "deny when scores.".len() as u64);
    let (labels, start) = complete_after(&mut client, 2, "deny when scores.tox");
    assert_eq!(labels, ["toxicity"]);
    assert_eq!(start, "deny when scores.".len() as u64);
    // After `==` on an enum field: its members; after `tier ==`: the tiers.
    let (labels, _) = complete_after(&mut client, 3, "deny when region == ");
    assert_eq!(labels, ["EU", "CN", "US"]);
    let (labels, _) = complete_after(&mut client, 4, "deny when region in {EU, ");
    assert_eq!(labels, ["EU", "CN", "US"]);
    let (labels, _) = complete_after(&mut client, 5, "escalate when tier == ");
    assert_eq!(labels, ["high", "minimal"]);
    // `use std::eu::`: the standard library's modules, replacing the whole path.
    let (labels, start) = complete_after(&mut client, 6, "use std::eu::ai");
    assert!(
        !labels.is_empty() && labels.iter().all(|l| l.starts_with("std::eu::ai")),
        "{labels:?}"
    );
    assert!(labels.contains(&"std::eu::ai_act::transparency".to_string()));
    assert_eq!(start, 4);
    // At the start of a line: declarations at top level, a block's items inside it.
    let (labels, _) = complete_after(&mut client, 7, "\n");
    for expected in ["duty", "trigger", "service", "test", "deny"] {
        assert!(
            labels.contains(&expected.to_string()),
            "{expected}: {labels:?}"
        );
    }
    assert!(!labels.contains(&"fallback".to_string()));
    let (labels, _) = complete_after(&mut client, 8, "duty d {\n  ");
    assert_eq!(
        labels,
        [
            "applies",
            "require",
            "retain",
            "report",
            "notice",
            "cite",
            "effective"
        ]
    );
    let (labels, _) = complete_after(&mut client, 9, "service s {\n  recovery {\n    ");
    assert_eq!(
        labels,
        ["cooldown", "approve", "ramp", "timeout", "require"]
    );
    // After `suspend`: services; after `given`: fixtures; after `tier` in a test: tiers.
    let (labels, _) = complete_after(
        &mut client,
        10,
        "trigger t {\n  when count(user.age > 1) within 1h >= 3\n  then suspend ",
    );
    assert_eq!(labels, ["chat"]);
    let (labels, _) = complete_after(&mut client, 11, "test \"t\" {\n  given ");
    assert_eq!(labels, ["base"]);
    let (labels, _) = complete_after(
        &mut client,
        12,
        "test \"t\" {\n  given base\n  expect allow, tier ",
    );
    assert_eq!(labels, ["high", "minimal"]);
    let (labels, _) = complete_after(
        &mut client,
        13,
        "test \"t\" {\n  given base\n  expect allow, duty ",
    );
    assert_eq!(labels, ["keep_logs"]);
    // In a schema, after `:`: the types and the enums.
    let (labels, _) = complete_after(&mut client, 14, "schema request {\n  extra: ");
    assert!(labels.contains(&"string".to_string()) && labels.contains(&"Region".to_string()));
    client.shutdown();
}

/// The semantic tokens of a response, decoded: (line, column, length, type name).
fn decode_tokens(legend: &[Value], data: &[Value]) -> Vec<(u64, u64, u64, String)> {
    let data: Vec<u64> = data.iter().map(|v| v.as_u64().unwrap()).collect();
    let (mut line, mut column) = (0, 0);
    data.chunks(5)
        .map(|t| {
            if t[0] > 0 {
                line += t[0];
                column = t[1];
            } else {
                column += t[1];
            }
            (
                line,
                column,
                t[2],
                legend[t[3] as usize].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn semantic_tokens_name_fields_members_and_keywords_and_come_as_deltas() {
    let mut client = Client::start();
    let text = format!(
        "{CONTEXT_BASE}def busy = usage.count > 3\n// a note\ndeny when region == EU and lower(service) == \"chat\" and tier == high because \"no\"\n"
    )
    .replace("  user.age: int\n", "  user.age: int\n  usage.count: int\n");
    let uri = "file:///tmp/tokens.bylaw";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let legend =
        client.capabilities["capabilities"]["semanticTokensProvider"]["legend"]["tokenTypes"]
            .as_array()
            .unwrap()
            .clone();
    let full = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": uri}}),
    );
    let tokens = decode_tokens(&legend, full["data"].as_array().unwrap());
    let kind_at = |needle: &str, shift: u32| {
        let (l, c) = find(&text, needle, shift);
        tokens
            .iter()
            .find(|(line, col, len, _)| {
                *line == u64::from(l) && *col <= u64::from(c) && u64::from(c) < col + len
            })
            .map(|t| t.3.clone())
            .unwrap_or_else(|| panic!("no token at `{needle}`+{shift}: {tokens:?}"))
    };
    assert_eq!(
        kind_at("usage.count > 3", 6),
        "property",
        "a keyword after a dot"
    );
    assert_eq!(kind_at("def busy", 0), "keyword");
    assert_eq!(kind_at("def busy", 4), "variable");
    assert_eq!(kind_at("region == EU and", 10), "enumMember");
    assert_eq!(kind_at("region == EU and", 0), "property");
    assert_eq!(kind_at("lower(service)", 0), "function");
    assert_eq!(kind_at("lower(service)", 6), "property");
    assert_eq!(kind_at("tier == high because", 0), "keyword");
    assert_eq!(kind_at("tier == high because", 8), "enumMember");
    assert_eq!(kind_at("// a note", 3), "comment");
    assert_eq!(kind_at("\"no\"", 1), "string");
    assert_eq!(kind_at("usage.count > 3", 14), "number");

    // An edit, then a delta against the first result: applied to the first data, it
    // gives what a full request now gives.
    let changed = text.replace("usage.count > 3", "usage.count > 30 and busy");
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": changed}]}),
    );
    let delta = client.request(
        "textDocument/semanticTokens/full/delta",
        json!({"textDocument": {"uri": uri}, "previousResultId": full["resultId"]}),
    );
    let edits = delta["edits"]
        .as_array()
        .unwrap_or_else(|| panic!("a delta: {delta}"));
    assert_eq!(edits.len(), 1, "{delta}");
    let mut data: Vec<Value> = full["data"].as_array().unwrap().clone();
    let start = edits[0]["start"].as_u64().unwrap() as usize;
    let deleted = edits[0]["deleteCount"].as_u64().unwrap() as usize;
    let inserted = edits[0]["data"].as_array().unwrap().clone();
    assert!(
        deleted + inserted.len() < data.len(),
        "a delta smaller than the whole"
    );
    data.splice(start..start + deleted, inserted);
    let again = client.request(
        "textDocument/semanticTokens/full",
        json!({"textDocument": {"uri": uri}}),
    );
    assert_eq!(&data, again["data"].as_array().unwrap());
    client.shutdown();
}

/// Applies a WorkspaceEdit's edits for `uri` to `text` (positions are ASCII here).
fn apply_edits(text: &str, edit: &Value, uri: &str) -> String {
    let lines: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |p: &Value| {
        lines[p["line"].as_u64().unwrap() as usize] + p["character"].as_u64().unwrap() as usize
    };
    let mut edits: Vec<(usize, usize, String)> = edit["changes"][uri]
        .as_array()
        .unwrap_or_else(|| panic!("{edit}"))
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, new) in edits {
        out.replace_range(start..end, &new);
    }
    out
}

#[test]
fn rename_highlight_and_folding_over_stdio() {
    let mut client = Client::start();
    let text = format!(
        "{CONTEXT_BASE}// Two lines of\n// comment.\ndef grown = user.age >= 18\ndeny when grown and region == EU because \"no\"\ntest \"adults in the EU\" {{\n  given base {{ region: EU }}\n  expect deny, tier high\n}}\n"
    );
    let uri = "file:///tmp/rename.bylaw";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    assert!(client.diagnostics().iter().all(|d| d["severity"] != 1));
    let position = |needle: &str, shift: u32| {
        let (line, character) = find(&text, needle, shift);
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
    };

    // prepareRename names what would change; a def renamed everywhere still checks.
    let prepared = client.request("textDocument/prepareRename", position("grown and", 1));
    assert_eq!(prepared["placeholder"], "grown");
    let mut params = position("grown and", 1);
    params["newName"] = json!("adult");
    let edit = client.request("textDocument/rename", params);
    let renamed = apply_edits(&text, &edit, uri);
    assert!(renamed.contains("def adult = ") && renamed.contains("deny when adult and"));
    assert!(!renamed.contains("grown"));
    let checked = bylaw::check_source("renamed.bylaw", &renamed);
    assert!(!checked.has_errors(), "{renamed}");

    // An enum member: its declaration, the fixture's value, conditions and overrides.
    let mut params = position("{ EU, CN, US }", 2);
    params["newName"] = json!("EEA");
    let edit = client.request("textDocument/rename", params);
    let renamed = apply_edits(&text, &edit, uri);
    // Every `EU` but the one in the test's name (a string).
    assert_eq!(
        renamed.matches("EEA").count(),
        text.matches("EU").count() - 1,
        "{renamed}"
    );
    assert!(renamed.contains("adults in the EU"));
    assert!(
        !bylaw::check_source("renamed.bylaw", &renamed).has_errors(),
        "{renamed}"
    );

    // A field, across the schema, the fixture, the tiers and the rules.
    let mut params = position("region: Region", 0);
    params["newName"] = json!("user.region");
    let edit = client.request("textDocument/rename", params);
    let renamed = apply_edits(&text, &edit, uri);
    assert!(
        !renamed.contains(" region") && renamed.contains("user.region == EU"),
        "{renamed}"
    );
    assert!(
        !bylaw::check_source("renamed.bylaw", &renamed).has_errors(),
        "{renamed}"
    );

    // Highlights: the declaration is a write (3), the uses reads (2).
    let highlights = client.request("textDocument/documentHighlight", position("grown and", 1));
    let kinds: Vec<u64> = highlights
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_u64().unwrap())
        .collect();
    assert_eq!(kinds, [3, 2], "{highlights}");

    // Folding: multi-line declarations and the run of comments.
    let folds = client.request(
        "textDocument/foldingRange",
        json!({"textDocument": {"uri": uri}}),
    );
    let folds = folds.as_array().unwrap();
    let (schema_line, _) = find(&text, "schema request {", 0);
    assert!(
        folds
            .iter()
            .any(|f| f["startLine"] == schema_line && f["endLine"] == schema_line + 6),
        "{folds:?}"
    );
    let (comment_line, _) = find(&text, "// Two lines of", 0);
    assert!(
        folds.iter().any(|f| f["startLine"] == comment_line
            && f["endLine"] == comment_line + 1
            && f["kind"] == "comment"),
        "{folds:?}"
    );
    client.shutdown();
}

#[test]
fn a_name_from_the_standard_library_is_not_renamed_here() {
    let mut client = Client::start();
    let text = "policy p version \"1.0.0\"\nuse std::minors\ndeny when user.age < 3 because \"too young\"\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let (l, c) = find(text, "user.age <", 6);
    let id = client.next_id;
    client.next_id += 1;
    Message::Request(Request::new(
        RequestId::from(id),
        "textDocument/prepareRename".into(),
        at(l, c),
    ))
    .write(&mut client.stdin)
    .unwrap();
    loop {
        if let Message::Response(r) = Message::read(&mut client.stdout).unwrap().unwrap()
            && r.id == RequestId::from(id)
        {
            let error = r.response_result.expect_err("an error");
            assert!(
                error.message.contains("standard-library module"),
                "{}",
                error.message
            );
            break;
        }
    }
    client.shutdown();
}

#[test]
fn what_nothing_uses_is_tagged_unnecessary() {
    let mut client = Client::start();
    let text = format!("{CONTEXT_BASE}def spare = user.age > 3\n");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let diagnostics = client.diagnostics();
    let unused = diagnostics
        .iter()
        .find(|d| d["code"] == "L0014 unused-def")
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert_eq!(unused["tags"], json!([1]), "{unused}");
    let other = diagnostics
        .iter()
        .find(|d| d["code"] != "L0014 unused-def" && d["code"] != "L0013 unused-field");
    if let Some(other) = other {
        assert!(
            other.get("tags").is_none() || other["tags"].is_null(),
            "{other}"
        );
    }
    client.shutdown();
}

#[test]
fn lint_levels_come_from_the_workspace_roots_bylaw_toml_and_follow_its_changes() {
    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("bylaw.toml");
    std::fs::write(&config, "[lint]\nunused-def = \"off\"\n").unwrap();
    let root_uri = url::Url::from_directory_path(root.path())
        .unwrap()
        .to_string();
    let mut client = Client::start_with_root(json!(root_uri));
    let uri = url::Url::from_file_path(root.path().join("p.bylaw"))
        .unwrap()
        .to_string();
    let text = format!("{CONTEXT_BASE}def spare = user.age > 3\n");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let codes = |diagnostics: &[Value]| -> Vec<(String, u64)> {
        diagnostics
            .iter()
            .map(|d| {
                (
                    d["code"].as_str().unwrap().to_string(),
                    d["severity"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let first = codes(&client.diagnostics());
    assert!(
        !first.iter().any(|(c, _)| c == "L0014 unused-def"),
        "{first:?}"
    );
    std::fs::write(&config, "[lint]\nunused-def = \"error\"\n").unwrap();
    let config_uri = url::Url::from_file_path(&config).unwrap().to_string();
    client.notify(
        "workspace/didChangeWatchedFiles",
        json!({"changes": [{"uri": config_uri, "type": 2}]}),
    );
    let second = codes(&client.diagnostics());
    assert!(
        second.contains(&("L0014 unused-def".to_string(), 1)),
        "{second:?}"
    );
    client.shutdown();
}

#[test]
fn workspace_symbols_search_every_open_document() {
    let mut client = Client::start();
    for (n, tail) in [
        (1, "duty audit_trail {\n  retain 6 months\n}\n"),
        (2, "def audit_window = 30d\n"),
    ] {
        let uri = format!("file:///tmp/ws{n}.bylaw");
        let text = format!("{CONTEXT_BASE}{tail}");
        client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
        );
    }
    let found = client.request("workspace/symbol", json!({"query": "AUDIT"}));
    let names: Vec<(&str, &str)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["location"]["uri"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("audit_trail", "file:///tmp/ws1.bylaw"),
            ("audit_window", "file:///tmp/ws2.bylaw")
        ]
    );
    client.shutdown();
}

#[test]
fn code_lenses_run_tests_and_show_failures_on_them() {
    let mut client = Client::start();
    let text = format!(
        "{CONTEXT_BASE}test \"adults are served\" {{\n  given base\n  expect allow, tier high\n}}\ntest \"a wrong expectation\" {{\n  given base\n  expect deny\n}}\n"
    );
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let lenses = client.request(
        "textDocument/codeLens",
        json!({"textDocument": {"uri": URI}}),
    );
    let lenses = lenses.as_array().unwrap();
    let titles: Vec<&str> = lenses
        .iter()
        .map(|l| l["command"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["▶ run all tests (2)", "▶ run test", "▶ run test"]);
    let (wrong_line, _) = find(&text, "test \"a wrong expectation\"", 0);
    assert_eq!(lenses[2]["range"]["start"]["line"], wrong_line);

    // Run them all: the answer counts, and the failure is a diagnostic on its test.
    let command = &lenses[0]["command"];
    let id = client.next_id;
    client.next_id += 1;
    Message::Request(Request::new(
        RequestId::from(id),
        "workspace/executeCommand".into(),
        json!({"command": command["command"], "arguments": command["arguments"]}),
    ))
    .write(&mut client.stdin)
    .unwrap();
    let mut published = Vec::new();
    let result = loop {
        match Message::read(&mut client.stdout).unwrap().unwrap() {
            Message::Response(r) if r.id == RequestId::from(id) => {
                break r.response_result.unwrap();
            }
            Message::Notification(n) if n.method == "textDocument/publishDiagnostics" => {
                published = n.params["diagnostics"].as_array().unwrap().clone();
            }
            _ => {}
        }
    };
    assert_eq!(result, json!({"passed": 1, "failed": 1}));
    let failure = published
        .iter()
        .find(|d| d["code"] == "E0407 test-failed")
        .unwrap_or_else(|| panic!("{published:?}"));
    assert_eq!(failure["range"]["start"]["line"], wrong_line);
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("expected deny"),
        "{failure}"
    );
    client.shutdown();
}

#[test]
fn definitions_reach_into_the_standard_library() {
    let cache = tempfile::tempdir().unwrap();
    let mut client = Client::start_with(Value::Null, &[("XDG_CACHE_HOME", cache.path())]);
    let text = "policy p version \"1.0.0\"\nuse std::minors { eu_consent_age: 13 }\ndeny when user.age < 3 because \"too young\"\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let module = bylaw::stdlib::get("std::minors").unwrap();
    // A field the module declares: its line in the module, written out read-only.
    let (l, c) = find(text, "user.age <", 6);
    let found = client.request("textDocument/definition", at(l, c));
    let uri = found["uri"].as_str().unwrap_or_else(|| panic!("{found}"));
    assert!(uri.ends_with("/std/minors.bylaw"), "{uri}");
    let path = url::Url::parse(uri).unwrap().to_file_path().unwrap();
    assert!(path.starts_with(cache.path()), "{}", path.display());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), module.text);
    assert!(std::fs::metadata(&path).unwrap().permissions().readonly());
    let (line, _) = find(module.text, "  user.age: int", 0);
    assert_eq!(found["range"]["start"]["line"], line, "{found}");
    // A parameter the `use` sets: its `def` in the module.
    let (l, c) = find(text, "eu_consent_age", 3);
    let found = client.request("textDocument/definition", at(l, c));
    let (line, _) = find(module.text, "def eu_consent_age", 0);
    assert_eq!(found["range"]["start"]["line"], line, "{found}");
    // The `use` line opens the module.
    let (l, c) = find(text, "std::minors", 5);
    let found = client.request("textDocument/definition", at(l, c));
    assert_eq!(found["uri"].as_str().unwrap(), uri);
    client.shutdown();
}

/// Neovim's built-in client (Debian's `neovim`, 0.7 or later), headless, drives the
/// server: completion, rename applied to the buffer, semantic tokens, diagnostics
/// (`editors/neovim/lsp_test.lua`). CI installs Neovim; elsewhere the test says it
/// did not run when there is no `nvim`.
#[test]
fn neovim_drives_completion_rename_and_semantic_tokens() {
    let Ok(version) = Command::new("nvim").arg("--version").output() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install neovim (.ci/run)"
        );
        eprintln!("no `nvim` here: the Neovim session did not run");
        return;
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.bylaw");
    std::fs::write(
        &policy,
        "policy p version \"1.0.0\"\nschema request {\n  scores.toxicity: float\n  scores.pii: float\n}\n\
         def risky = scores.toxicity > 0.9 or scores.pii > 0.5\ndeny when risky because \"too risky\"\n",
    )
    .unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("editors/neovim/lsp_test.lua");
    let out = Command::new("nvim")
        .args(["--headless", "--clean", "-u", "NONE", "-c"])
        .arg(format!("luafile {}", script.display()))
        .env("BYLAW", env!("CARGO_BIN_EXE_bylaw"))
        .env("POLICY", &policy)
        .env("XDG_STATE_HOME", dir.path())
        .env("XDG_CACHE_HOME", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "ok: diagnostics",
        "ok: completion pii,toxicity",
        "ok: rename (2 edits applied)",
        "ok: semantic tokens",
    ] {
        assert!(stdout.contains(step), "{step} missing from:\n{stdout}");
    }
}

#[test]
fn the_outline_lists_only_the_fields_written_in_the_file() {
    let mut client = Client::start();
    let text = "policy p version \"1.0.0\"\nuse std::minors\nschema request {\n  extra: bool\n}\ndeny when extra because \"no\"\n";
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": URI, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    let symbols = client.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": URI}}),
    );
    let schema = symbols
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "request" || s["name"] == "schema request")
        .unwrap_or_else(|| panic!("{symbols}"));
    let fields: Vec<&str> = schema["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["extra"]);
    client.shutdown();
}

#[test]
fn hover_on_a_use_line_shows_the_module_and_its_parameters() {
    use bylaw::lsp::analysis::Analysis;
    let text =
        "policy p version \"1.0.0\"\nuse std::minors { eu_consent_age: 13 }\ndefault allow\n";
    let analysis = Analysis::new("p.bylaw", text, &Default::default(), &Default::default());
    let at = |needle: &str| text.find(needle).unwrap() as u32 + 2;
    let (_, module) = analysis.hover(at("std::minors")).unwrap();
    assert!(module.starts_with("**std::minors**"), "{module}");
    assert!(module.contains("Minors. In China"), "{module}");
    assert!(module.contains("- `eu_consent_age: int = 16`"), "{module}");
    let (_, parameter) = analysis.hover(at("eu_consent_age")).unwrap();
    assert!(
        parameter.contains("def eu_consent_age: int = 16")
            && parameter.contains("GDPR Art. 8(1)")
            && parameter.contains("parameter of `std::minors`"),
        "{parameter}"
    );
}

#[test]
fn names_in_an_event_trigger_are_the_events_fields() {
    use bylaw::lsp::analysis::{Analysis, Symbol};
    let text = std::fs::read_to_string(crate::data("governance/incidents.bylaw")).unwrap();
    let analysis = Analysis::new("i.bylaw", &text, &Default::default(), &Default::default());
    assert!(
        analysis.diagnostics().iter().all(|d| !d.is_error()),
        "{:?}",
        analysis.diagnostics()
    );
    // `severity` in `where` is the event's field, declared in `event incident`.
    let in_where = text.find("where severity == serious").unwrap() as u32 + 8;
    let declared = text.find("  severity: Severity").unwrap() as u32 + 2;
    let target = analysis.definition(in_where).unwrap();
    assert_eq!(target.start, declared);
    let (_, hover) = analysis.hover(in_where).unwrap();
    assert!(
        hover.contains("severity: Severity") && hover.contains("field of `event incident`"),
        "{hover}"
    );
    // The counted kind goes to its declaration.
    let kind = text.find("count(incident").unwrap() as u32 + 7;
    assert_eq!(
        analysis.definition(kind).unwrap().start,
        text.find("event incident").unwrap() as u32 + 6
    );
    // `by user.id` in a complaint trigger is the complaint's field, not the request's.
    let by = text.find("by user.id").unwrap() as u32 + 4;
    let occurrence = analysis.occurrence_at(by).unwrap();
    assert_eq!(
        occurrence.symbol,
        Symbol::EventField("complaint".into(), "user.id".into())
    );
    // Every `severity` of incident triggers is one name: a rename changes all five
    // uses and the declaration, and nothing in the request schema.
    let edits = bylaw::lsp::rename::rename(&analysis, in_where, "level").unwrap();
    assert_eq!(edits.len(), 5, "{edits:?}");
    assert!(
        bylaw::lsp::rename::rename(&analysis, in_where, "aware_at").is_err(),
        "renaming to a field with a meaning is refused"
    );
}

#[test]
fn completion_inside_where_offers_the_events_fields() {
    let text = std::fs::read_to_string(crate::data("governance/incidents.bylaw")).unwrap();
    let mut client = Client::start();
    let cases = [
        // The kind's fields, not the request's.
        (
            "trigger t {\n  when count(complaint where ",
            vec!["aware_at", "id", "user.id"],
        ),
        // After `==` on one of its enum fields: the enum's members.
        (
            "trigger t {\n  when count(incident where severity == ",
            vec!["minor", "serious", "death", "widespread", "infrastructure"],
        ),
        (
            "trigger t {\n  when count(complaint where user.",
            vec!["id"],
        ),
    ];
    for (n, (tail, expected)) in cases.into_iter().enumerate() {
        let uri = format!("file:///tmp/events{n}.bylaw");
        let doc = format!("{text}\n{tail}");
        client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": doc}}),
        );
        let line = doc.lines().count() as u32 - 1;
        let character = doc.rsplit('\n').next().unwrap().len() as u32;
        let items = client.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
        );
        let labels: Vec<&str> = items
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] != 14 && i["kind"] != 3)
            .map(|i| i["label"].as_str().unwrap())
            .collect();
        for label in &expected {
            assert!(labels.contains(label), "{tail:?}: {labels:?}");
        }
        assert!(
            !labels.contains(&"service"),
            "a request field is not offered in {tail:?}: {labels:?}"
        );
    }
    client.shutdown();
}

#[test]
fn each_diagnostic_links_to_its_codes_documentation() {
    let cache = tempfile::tempdir().unwrap();
    let mut client = Client::start_with(Value::Null, &[("XDG_CACHE_HOME", cache.path())]);
    let check = |client: &mut Client, n: usize, text: String, code: &str, heading: &str| {
        let uri = format!("file:///tmp/links{n}.bylaw");
        client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "bylaw", "version": 1, "text": text}}),
        );
        let diagnostics = client.diagnostics();
        let d = diagnostics
            .iter()
            .find(|d| d["code"].as_str().is_some_and(|c| c.starts_with(code)))
            .unwrap_or_else(|| panic!("no {code} in {diagnostics:?}"));
        let href = d["codeDescription"]["href"]
            .as_str()
            .unwrap_or_else(|| panic!("{d}"));
        let url = url::Url::parse(href).unwrap();
        let line: usize = url
            .fragment()
            .unwrap()
            .trim_start_matches('L')
            .parse()
            .unwrap();
        let path = url.to_file_path().unwrap();
        assert!(path.starts_with(cache.path()), "{href}");
        assert!(std::fs::metadata(&path).unwrap().permissions().readonly());
        let page = std::fs::read_to_string(&path).unwrap();
        let at = page.lines().nth(line - 1).unwrap();
        assert!(at.starts_with(heading), "line {line} of {href} is {at:?}");
    };
    // A lint goes to its rule's section, an error to its code's row.
    check(
        &mut client,
        1,
        format!("{CONTEXT_BASE}def spare = user.age > 3\n"),
        "L0014",
        "## unused-def",
    );
    check(
        &mut client,
        2,
        "policy p version \"1.0.0\"\nschema request {\n  x: flaot\n}\ndefault allow\n".into(),
        "E0103",
        "| E0103 |",
    );
    client.shutdown();
}

/// A copy of the module workspace, to edit.
fn workspace_copy() -> tempfile::TempDir {
    let from = crate::data("modules/workspace");
    let dir = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.unwrap();
        let to = dir.path().join(entry.path().strip_prefix(&from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    dir
}

#[test]
fn a_name_from_a_user_module_is_renamed_in_the_module_and_every_policy_using_it() {
    let dir = workspace_copy();
    let root = url::Url::from_directory_path(dir.path())
        .unwrap()
        .to_string();
    let mut client = Client::start_with_root(json!(root));
    let chat = dir.path().join("chat.bylaw");
    let chat_uri = url::Url::from_file_path(&chat).unwrap().to_string();
    let text = std::fs::read_to_string(&chat).unwrap();
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": chat_uri, "languageId": "bylaw", "version": 1, "text": text}}),
    );
    client.diagnostics();
    // `prompt.jailbreak_score` in chat's fixture: a field of acme::safety::jailbreak.
    let (line, character) = find(&text, "prompt.jailbreak_score: 0.0", 3);
    let position = json!({"textDocument": {"uri": chat_uri}, "position": {"line": line, "character": character}});
    let prepared = client.request("textDocument/prepareRename", position.clone());
    assert_eq!(
        prepared["placeholder"], "prompt.jailbreak_score",
        "{prepared}"
    );
    let mut params = position;
    params["newName"] = json!("prompt.jailbreak_risk");
    let edit = client.request("textDocument/rename", params);
    let base = std::fs::canonicalize(dir.path()).unwrap();
    let mut changed: Vec<String> = edit["changes"]
        .as_object()
        .unwrap_or_else(|| panic!("{edit}"))
        .keys()
        .map(|k| {
            let path = url::Url::parse(k).unwrap().to_file_path().unwrap();
            let path = std::fs::canonicalize(path).unwrap();
            path.strip_prefix(&base).unwrap().display().to_string()
        })
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            "agents/agent.bylaw",
            "chat.bylaw",
            "lib/acme/safety/jailbreak.bylaw",
            "search.bylaw"
        ],
        "{edit}"
    );
    // Written out, the workspace still checks and passes its tests under the new name.
    for (uri, _) in edit["changes"].as_object().unwrap() {
        let path = url::Url::parse(uri).unwrap().to_file_path().unwrap();
        let before = std::fs::read_to_string(&path).unwrap();
        let after = apply_edits(&before, &edit, uri);
        assert!(!after.contains("jailbreak_score"), "{after}");
        std::fs::write(&path, after).unwrap();
    }
    for policy in ["chat.bylaw", "search.bylaw", "agents/agent.bylaw"] {
        let out = Command::new(env!("CARGO_BIN_EXE_bylaw"))
            .arg("test")
            .arg(dir.path().join(policy))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{policy}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    client.shutdown();
}
