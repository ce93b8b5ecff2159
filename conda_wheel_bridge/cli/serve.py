"""``cwb serve CHANNEL``: serve a channel and its simple API over HTTP."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb serve``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve a channel to conda clients and pip/uv",
        description="Serve CHANNEL over HTTP: conda clients use http://HOST:PORT/, pip and uv "
                    "use http://HOST:PORT/simple/ (PEP 691 content negotiation).")
    parser.add_argument("channel", metavar="CHANNEL", help="channel directory (run cwb index)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; the first line printed names the URL."""
    from ..channel.serve import make_server

    server = make_server(args.channel, args.host, args.port, quiet=not args.verbose)
    print(f"serving {args.channel} at {server.url} (pip/uv: {server.url}simple/)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
