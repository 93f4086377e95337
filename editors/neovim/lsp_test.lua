-- A headless Neovim session (0.7 or later) driving `bylaw lsp` through its built-in
-- client: completion after a dot, rename of a `def` applied to the buffer, semantic
-- tokens and diagnostics. Run by tests/it/lsp.rs:
--   BYLAW=… POLICY=… nvim --headless --clean -u NONE -c "luafile lsp_test.lua"
-- Prints "ok: …" lines and exits 0, or prints the failure and exits 1.

local function fail(message)
  io.stdout:write("FAIL: " .. message .. "\n")
  vim.cmd("cquit 1")
end

local function check(cond, message)
  if not cond then fail(message) end
end

local ok, err = pcall(function()
  local policy = vim.env.POLICY
  vim.cmd("edit " .. vim.fn.fnameescape(policy))
  vim.bo.filetype = "bylaw"
  local client_id = vim.lsp.start_client({
    name = "bylaw",
    cmd = { vim.env.BYLAW, "lsp" },
    root_dir = vim.fn.fnamemodify(policy, ":h"),
  })
  check(client_id, "the client did not start")
  vim.lsp.buf_attach_client(0, client_id)
  check(vim.wait(10000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized
  end), "the server did not initialize")

  local function request(method, params)
    local results = vim.lsp.buf_request_sync(0, method, params, 10000)
    check(results and results[client_id], method .. ": no answer")
    local answer = results[client_id]
    check(answer.err == nil, method .. ": " .. vim.inspect(answer.err))
    return answer.result
  end

  local function at(pattern, shift)
    for line = 1, vim.api.nvim_buf_line_count(0) do
      local text = vim.api.nvim_buf_get_lines(0, line - 1, line, false)[1]
      local col = text:find(pattern, 1, true)
      if col then return line - 1, col - 1 + shift end
    end
    fail("no " .. pattern .. " in the buffer")
  end

  local function position(pattern, shift)
    local line, character = at(pattern, shift)
    return { textDocument = vim.lsp.util.make_text_document_params(), position = { line = line, character = character } }
  end

  -- Diagnostics arrive: the policy checks, so none is an error.
  check(vim.wait(10000, function() return #vim.diagnostic.get(0) > 0 end), "no diagnostics published")
  for _, d in ipairs(vim.diagnostic.get(0)) do
    check(d.severity ~= vim.diagnostic.severity.ERROR, "an error: " .. d.message)
  end
  io.stdout:write("ok: diagnostics (" .. #vim.diagnostic.get(0) .. " warnings)\n")

  -- Completion after `scores.`: the next segments, replacing the typed word.
  local result = request("textDocument/completion", position("scores.toxicity >", #"scores."))
  local items = result.items or result
  local labels = {}
  for _, item in ipairs(items) do table.insert(labels, item.label) end
  table.sort(labels)
  check(table.concat(labels, ",") == "pii,toxicity", "completion: " .. table.concat(labels, ","))
  io.stdout:write("ok: completion " .. table.concat(labels, ",") .. "\n")

  -- Rename the def: the workspace edit applied to the buffer.
  local params = position("def risky", #"def ")
  params.newName = "dangerous"
  local edit = request("textDocument/rename", params)
  vim.lsp.util.apply_workspace_edit(edit, "utf-16")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  check(not text:find("def risky", 1, true) and not text:find("when risky", 1, true),
    "rename left `risky`: " .. text)
  local _, uses = text:gsub("dangerous", "")
  check(uses == 2, "rename: " .. uses .. " occurrences of `dangerous`")
  io.stdout:write("ok: rename (" .. uses .. " edits applied)\n")

  -- Semantic tokens of the renamed buffer.
  vim.lsp.buf_notify(0, "textDocument/didChange", {
    textDocument = { uri = vim.uri_from_bufnr(0), version = 2 },
    contentChanges = { { text = text .. "\n" } },
  })
  local tokens = request("textDocument/semanticTokens/full", { textDocument = vim.lsp.util.make_text_document_params() })
  check(#tokens.data > 0 and #tokens.data % 5 == 0, "semantic tokens: " .. #tokens.data .. " numbers")
  io.stdout:write("ok: semantic tokens (" .. (#tokens.data / 5) .. " tokens)\n")
end)

if not ok then fail(tostring(err)) end
vim.lsp.stop_client(vim.lsp.get_active_clients())
vim.cmd("qall!")
