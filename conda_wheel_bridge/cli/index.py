"""``cwb index CHANNEL``: write repodata (+ v3.whl records), channeldata and the simple API."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb index``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "index", help="index a channel for conda clients and pip/uv",
        description="Index CHANNEL in place: repodata.json(.zst) per subdir with v3.whl records "
                    "for pure-Python wheels in noarch/, channeldata.json, and simple/ "
                    "(PEP 503/691) for every wheel. Incremental; safe to interrupt.")
    parser.add_argument("channel", metavar="CHANNEL", help="channel directory")
    parser.add_argument("--no-simple", action="store_true",
                        help="do not write the simple/ API (conda repodata only)")
    parser.add_argument("--no-export", action="store_true",
                        help="do not export wheels from the channel's Python conda packages")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="worker processes for reading many new files "
                             "(default: half the CPUs, at most 4)")
    parser.add_argument("--zstd-level", type=int, default=1, metavar="N",
                        help="compression level of repodata.json.zst (default 1: on repodata "
                             "both smaller and faster than 3)")
    parser.add_argument("--lock-timeout", type=float, default=None, metavar="SECONDS",
                        help="give up when another indexer holds the channel this long")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    return parser


def run(args: argparse.Namespace) -> int:
    """Index the channel and print a one-line summary (plus what was left out, and why)."""
    from ..channel.index import index_channel

    report = index_channel(args.channel, simple=not args.no_simple,
                           export_wheels=not args.no_export, jobs=args.jobs,
                           zstd_level=args.zstd_level, lock_timeout=args.lock_timeout)
    if not args.quiet:
        listed = ", ".join(f"{s} {n}" for s, n in report.subdirs.items())
        print(f"indexed {args.channel}: {listed}; v3.whl {report.whl_records}; "
              f"simple {report.simple_files} wheels; read {report.read}, cached {report.reused}")
        for line in report.skipped:
            print(f"  note: {line}", file=sys.stderr)
    return 0
