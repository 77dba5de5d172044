-- wrk script for host/benches/mcp.rs: auto-approved files.read_file calls
-- over Streamable HTTP in one MCP session, from a process of its own.
-- The bench passes the token and the session in the environment. Every
-- answer is checked: a call that did not return the file counts as bad.
local token = os.getenv("TGW_BENCH_TOKEN")
local session = os.getenv("TGW_BENCH_SESSION")
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
if session ~= nil and session ~= "" then
  wrk.headers["Mcp-Session-Id"] = session
end
wrk.headers["MCP-Protocol-Version"] = "2025-06-18"

-- Each request gets its own JSON-RPC id: in one session, requests in
-- flight at once must not share one (the session pairs answers by id).
local next_id = 0
function request()
  next_id = next_id + 1
  return wrk.format(nil, nil, nil, '{"jsonrpc":"2.0","id":' .. next_id
    .. ',"method":"tools/call","params":{"name":"files.read_file","arguments":{"path":"report.txt"}}}')
end

bad = 0 -- a global: the main state reads each thread's with thread:get
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"isError":false', 1, true) then
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write(string.format("bad answer %d: %s\n", status, string.sub(body, 1, 300)))
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
  end
  io.write(string.format("TGW p50_us=%d p99_us=%d requests=%d seconds=%.3f bad=%d errors=%d\n",
    latency:percentile(50), latency:percentile(99), summary.requests,
    summary.duration / 1e6, total,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout))
end
