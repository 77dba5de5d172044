"""The Python `mcp` client's OAuthClientProvider against the gateway, for
host/tests/mcp_clients.rs: discovery from the 401, dynamic client
registration, PKCE S256, a person who signs in with a passkey and consents
in Chromium (the test's approver), the code at this script's loopback
callback, then tools. One JSON object per line on stdout:

  {"event": "authorize", "url": "..."}   → the test has the person consent
  {"event": "tools", "names": [...]}
  {"event": "read", "result": {...}}
  {"event": "done"}

Usage: python py_oauth.py MCP_URL
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken


def say(**event):
    print(json.dumps(event), flush=True)


class Memory:
    """Token storage for one run."""

    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Callback(BaseHTTPRequestHandler):
    """The loopback redirect (RFC 8252): the browser lands here with the code."""

    query: dict = {}
    arrived = threading.Event()

    def do_GET(self):
        url = urlparse(self.path)
        # Only the redirect counts (the browser asks for /favicon.ico too).
        if url.path != "/callback" or Callback.arrived.is_set():
            self.send_response(404)
            self.end_headers()
            return
        Callback.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"Connected. You can close this tab.\n")
        Callback.arrived.set()

    def log_message(self, *args):
        pass


async def main():
    url = sys.argv[1]
    server = HTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    redirect = f"http://127.0.0.1:{server.server_address[1]}/callback"

    async def redirect_handler(authorization_url: str) -> None:
        say(event="authorize", url=authorization_url)

    async def callback_handler() -> AuthorizationCodeResult:
        await anyio.to_thread.run_sync(Callback.arrived.wait, 120)
        query = Callback.query
        if "error" in query:
            raise RuntimeError(f"authorization refused: {query}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"))

    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="Python mcp test client",
            redirect_uris=[redirect],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=Memory(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=120) as http:
            async with streamable_http_client(url, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    tools = (await session.list_tools()).tools
                    say(event="tools", names=[t.name for t in tools])
                    r = await session.call_tool("files.read_file", {"path": "report.txt"})
                    say(
                        event="read",
                        result={
                            "is_error": r.is_error,
                            "text": [c.text for c in r.content if getattr(c, "type", "") == "text"],
                        },
                    )
        say(event="done")
    finally:
        server.shutdown()


anyio.run(main)
