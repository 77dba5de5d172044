"""Rich results through the Python `mcp` client over Streamable HTTP, for
host/tests/conformance.rs: calls each TOOL (with `{}`, or the JSON after
`=`) with a progress callback, and says what the client made of the
result: each content block's class and fields, the structured content,
and the progress it heard. One JSON object per line on stdout.

Usage: python py_rich.py URL TOKEN TOOL[=ARGS_JSON]...
"""

import json
import sys

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def say(**event):
    print(json.dumps(event), flush=True)


def block(content):
    seen = {"class": type(content).__name__, "type": content.type}
    for field in ("text", "mimeType", "mime_type", "data", "uri"):
        value = getattr(content, field, None)
        if isinstance(value, str):
            seen[field] = value[:64]
    resource = getattr(content, "resource", None)
    if resource is not None:
        seen["resource"] = {"class": type(resource).__name__, "uri": str(resource.uri)}
    return seen


async def main():
    url, token, *calls = sys.argv[1:]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                for call in calls:
                    tool, _, args = call.partition("=")
                    heard = []

                    async def progress(done, total, message):
                        heard.append({"done": done, "total": total, "message": message})

                    r = await session.call_tool(
                        tool, json.loads(args or "{}"), progress_callback=progress
                    )
                    say(
                        event="result",
                        tool=tool,
                        is_error=r.is_error,
                        content=[block(c) for c in r.content],
                        structured=r.structured_content,
                        progress=heard,
                    )


anyio.run(main)
