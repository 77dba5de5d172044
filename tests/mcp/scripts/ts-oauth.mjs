// The TypeScript SDK's OAuth client provider against the gateway, for
// host/tests/mcp_clients.rs: discovery from the 401, dynamic client
// registration, PKCE S256, a person who signs in with a passkey and
// consents in Chromium (the test's approver), the code at this script's
// loopback callback, the token exchange, then tools. One JSON object per
// line on stdout:
//
//   {"event":"authorize","url":"…"}   → the test has the person consent
//   {"event":"tools","names":[...]}
//   {"event":"read","result":{...}}
//   {"event":"token","access_token":"…"}
//   {"event":"done"}
//
// Usage: node ts-oauth.mjs MCP_URL
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [url] = process.argv.slice(2);
const say = (event) => console.log(JSON.stringify(event));

// The loopback redirect (RFC 8252): the browser lands here with the code.
let landed;
const arrived = new Promise((resolve) => { landed = resolve; });
const callback = createServer((request, response) => {
  const url = new URL(request.url, 'http://127.0.0.1');
  // Only the redirect counts (the browser asks for /favicon.ico too).
  if (url.pathname !== '/callback') {
    response.writeHead(404);
    response.end();
    return;
  }
  const query = url.searchParams;
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('Connected. You can close this tab.\n');
  landed(query);
});
await new Promise((resolve) => callback.listen(0, '127.0.0.1', resolve));
const redirectUrl = `http://127.0.0.1:${callback.address().port}/callback`;

const saved = { state: randomBytes(16).toString('base64url') };
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK test client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  state: () => saved.state,
  clientInformation: () => saved.client,
  saveClientInformation: (client) => { saved.client = client; },
  tokens: () => saved.tokens,
  saveTokens: (tokens) => { saved.tokens = tokens; },
  redirectToAuthorization: (authorizationUrl) => say({ event: 'authorize', url: authorizationUrl.href }),
  saveCodeVerifier: (verifier) => { saved.verifier = verifier; },
  codeVerifier: () => saved.verifier,
};

try {
  const first = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  try {
    await new Client({ name: 'tgw-oauth-e2e', version: '0.0.1' }).connect(first);
    throw new Error('connected without signing in');
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
  }
  const query = await arrived;
  if (query.get('state') !== saved.state) throw new Error(`state did not round-trip: ${query.get('state')}`);
  if (!query.get('code')) throw new Error(`no code: ${query}`);
  await first.finishAuth(query.get('code'));

  const client = new Client({ name: 'tgw-oauth-e2e', version: '0.0.1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
  const { tools } = await client.listTools();
  say({ event: 'tools', names: tools.map((t) => t.name) });
  say({ event: 'read', result: await client.callTool({ name: 'files.read_file', arguments: { path: 'report.txt' } }) });
  say({ event: 'token', access_token: saved.tokens.access_token, scope: saved.tokens.scope });
  await client.close();
  say({ event: 'done' });
} catch (error) {
  say({ event: 'error', error: String(error.stack || error) });
  process.exitCode = 1;
} finally {
  callback.close();
}
