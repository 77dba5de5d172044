// The TypeScript SDK's client against the gateway, for
// host/tests/mcp_clients.rs. One JSON object per line on stdout:
//
//   {"event":"tools","names":[...]}
//   {"event":"read","result":{...}}                  auto-approved read
//   {"event":"waiting","call":"approve","message":…}  → the test approves
//   {"event":"result","call":"approve","result":{...},"progress":N}
//   {"event":"waiting","call":"deny",…}               → the test denies
//   {"event":"result","call":"deny",…}
//   {"event":"waiting","call":"cancel",…}             the client aborts
//   {"event":"cancelled","error":"…"}       ← CLOSE from the test
//   {"event":"done"}
//
// Usage: node ts-scenario.mjs URL TOKEN http|sse
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { createInterface } from 'node:readline';

const [url, token, kind] = process.argv.slice(2);
const say = (event) => console.log(JSON.stringify(event));
const requestInit = { headers: { Authorization: `Bearer ${token}` } };
const transport = kind === 'sse'
  ? new SSEClientTransport(new URL(url), { requestInit })
  : new StreamableHTTPClientTransport(new URL(url), { requestInit });
const client = new Client({ name: 'tgw-e2e', version: '0.0.1' });
await client.connect(transport);

const { tools } = await client.listTools();
say({ event: 'tools', names: tools.map((t) => t.name), tools });

say({ event: 'read', result: await client.callTool({ name: 'files.read_file', arguments: { path: 'report.txt' } }) });

// A call that waits for a human; progress keeps the request alive.
async function waiting(call, name, args, options = {}) {
  let progress = 0;
  const result = await client.callTool({ name, arguments: args }, undefined, {
    timeout: 10000,
    resetTimeoutOnProgress: true,
    maxTotalTimeout: 120000,
    ...options,
    onprogress: (p) => {
      progress += 1;
      if (progress === 1) say({ event: 'waiting', call, message: p.message, total: p.total });
      options.onprogress?.(p);
    },
  });
  return { result, progress };
}

const approved = await waiting('approve', 'files.delete_file', { path: 'old.txt' });
say({ event: 'result', call: 'approve', ...approved });
const denied = await waiting('deny', 'files.write_file', { path: 'new.txt', content: 'hello' });
say({ event: 'result', call: 'deny', ...denied });

const abort = new AbortController();
try {
  await waiting('cancel', 'files.delete_file', { path: 'keep.txt' }, {
    signal: abort.signal,
    onprogress: () => abort.abort('the user pressed stop'),
  });
  say({ event: 'not-cancelled' });
} catch (error) {
  say({ event: 'cancelled', error: String(error) });
}
// Stay connected until the test has seen the withdrawal: the SDK sends
// notifications/cancelled in the background, and closing at once could
// cut it off.
for await (const line of createInterface({ input: process.stdin })) if (line === 'CLOSE') break;
await client.close();
say({ event: 'done' });
