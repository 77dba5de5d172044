// Calls that become MCP tasks, through the TypeScript SDK's client, for
// host/tests/mcp_clients.rs. The SDK speaks 2025-11-25 sessions; the
// client declares the tasks extension (io.modelcontextprotocol/tasks) in
// its capabilities, and sends the task methods as plain requests. Speaks
// as scripts/py_task.py does:
//
//   calls TOOL                  -> {"event":"task",…}   (then disconnects)
//   <- RESULT                   reconnects and polls tasks/get until it ends
//                               -> {"event":"ended",…}
//   calls TOOL2                 -> {"event":"task",…}
//   <- CANCEL                   tasks/cancel, then tasks/get
//                               -> {"event":"cancelled",…}
//
// Usage: node ts-task.mjs URL TOKEN TOOL ARGS_JSON TOOL2 ARGS2_JSON
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createInterface } from 'node:readline';
import { z } from 'zod';

const [url, token, tool, args, tool2, args2] = process.argv.slice(2);
const say = (event) => console.log(JSON.stringify(event));
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const heard = async (word) => {
  const { value } = await lines.next();
  if (value?.trim() !== word) throw new Error(`expected ${word}, got ${value}`);
};
const Any = z.object({}).passthrough();

async function connected() {
  const client = new Client(
    { name: 'tgw-e2e-tasks', version: '0.0.1' },
    { capabilities: { extensions: { 'io.modelcontextprotocol/tasks': {} } } },
  );
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

// Calls `name`; says what task it became, and disconnects.
async function propose(name, argsJson) {
  const client = await connected();
  const task = await client.request(
    { method: 'tools/call', params: { name, arguments: JSON.parse(argsJson) } }, Any);
  if (!task.taskId) throw new Error(`not a task: ${JSON.stringify(task)}`);
  say({ event: 'task', task_id: task.taskId, status: task.status, message: task.statusMessage,
    approval: task._meta?.['tgw/approval'] });
  await client.close();
  return task.taskId;
}

const get = (client, taskId) => client.request({ method: 'tasks/get', params: { taskId } }, Any);

const first = await propose(tool, args);
await heard('RESULT');
{
  // A new session: the task is in the gateway's store, not in the session
  // that made it.
  const client = await connected();
  let task;
  for (;;) {
    task = await get(client, first);
    if (task.status !== 'working' && task.status !== 'input_required') break;
    await new Promise((r) => setTimeout(r, task.pollIntervalMs ?? 500));
  }
  say({ event: 'ended', status: task.status, result: task.result, error: task.error });
  await client.close();
}

const second = await propose(tool2, args2);
await heard('CANCEL');
{
  const client = await connected();
  const ack = await client.request({ method: 'tasks/cancel', params: { taskId: second } }, Any);
  const task = await get(client, second);
  say({ event: 'cancelled', ack, status: task.status });
  await client.close();
}
process.exit(0);
