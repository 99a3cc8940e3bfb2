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
    for method in (tools.ask, tools.search, tools.list_articles):
        server.add_tool(tool_errors(method), name=method.__name__, structured_output=True)
    return server


def serve_stdio(index_dir: Path, config: Config) -> None:
    """Open the index, load the models, and answer MCP requests on stdin/stdout until the client closes."""
    engine = Engine.open_or_seed(index_dir, config)
    server = build_server(engine)
    engine.warm_up()  # before the first request, so it does not wait for them
    logger.warning("qa mcp: serving %s on stdio", index_dir)
    server.run("stdio")
