"""`qa mcp`: the engine's tools (qa.tools) for AI assistants, over the Model Context Protocol on stdio.

A desktop assistant starts `qa mcp --index-dir FOLDER` as a command and talks to it on stdin/stdout.
The same tools are served over HTTP by the page with `qa serve --mcp` (Gradio's MCP server). Needs the
`mcp` extra: pip install "qa-news[mcp]".
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qa.config import Config
from qa.engine import Engine
from qa.errors import InputError, QAError, one_line
from qa.tools import Tools

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Answers questions from a news archive with citations. Use `ask` for a question (pass as_of to ask as "
    "on a past day), `search` to read the passages behind a topic, `list_articles` to see what the archive "
    "holds. An answer of null means the articles don't say: do not guess beyond them."
)


def tool_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """The tool's one-line error for the assistant; a bug is marked as one and its traceback logged."""
    from mcp.server.fastmcp.exceptions import ToolError

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except QAError as exc:
            raise ToolError(one_line(exc)) from None
        except Exception as exc:
            logger.exception("An MCP tool failed")
            raise ToolError(one_line(exc)) from None

    return call


def build_server(engine: Engine) -> Any:
    """A FastMCP server whose tools are qa.tools.Tools over `engine`."""
    try:
        from mcp.server.fastmcp import FastMCP
    except ImportError:
        raise InputError(
            'qa mcp needs the MCP package: pip install "qa-news[mcp]" (or pip install mcp).'
        ) from None
    tools = Tools(engine)
    server = FastMCP("qa-news", instructions=INSTRUCTIONS)
    for method in (tools.ask, tools.search, tools.search_articles, tools.list_articles):
        server.add_tool(tool_errors(method), name=method.__name__, structured_output=True)
    return server


def serve_stdio(index_dir: Path, config: Config) -> None:
    """Open the index, load the models, and answer MCP requests on stdin/stdout until the client closes."""
    import anyio

    engine = Engine.open_or_seed(index_dir, config)
    server = build_server(engine)
    engine.warm_up()  # before the first request, so it does not wait for them
    logger.warning("qa mcp: serving %s on stdio", index_dir)
    anyio.run(run_stdio, server)


async def run_stdio(server: Any) -> None:
    """FastMCP's stdio loop, with its input lines checked first (CheckedLines)."""
    import sys
    from io import TextIOWrapper

    import anyio
    from mcp.server.stdio import stdio_server

    lines = CheckedLines(anyio.wrap_file(TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")))
    async with stdio_server(stdin=lines) as (read_stream, write_stream):  # type: ignore[arg-type]
        lines.replies = write_stream
        lines.ready.set()
        mcp = server._mcp_server
        await mcp.run(read_stream, write_stream, mcp.create_initialization_options())


class CheckedLines:
    """stdin's lines for the MCP library, less requests that hold a lone surrogate ("\\ud800"): its JSON parser
    refuses them without answering, and the client would wait for ever. Each gets a JSON-RPC error instead."""

    def __init__(self, lines: Any) -> None:
        import anyio

        self.lines = lines
        self.replies: Any = None  # the server's write stream, once it exists
        self.ready = anyio.Event()

    def __aiter__(self) -> Any:
        return self._checked()

    async def _checked(self) -> Any:
        from mcp import types
        from mcp.shared.message import SessionMessage

        async for line in self.lines:
            request_id = with_surrogate(line)
            if request_id is None:
                yield line
                continue
            await self.ready.wait()
            error = types.ErrorData(
                code=types.INVALID_PARAMS,
                message="A parameter holds a lone surrogate (such as \\ud800), which is not text; send UTF-8 text.",
            )
            reply = types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
            await self.replies.send(SessionMessage(types.JSONRPCMessage(reply)))


def with_surrogate(line: str) -> str | int | None:
    """The id of a JSON-RPC request whose parameters hold a lone surrogate; None for any other line."""
    import json

    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("id"), (str, int)):
        return None
    try:
        json.dumps(message, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return message["id"]
    return None
