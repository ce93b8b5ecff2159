"""``cwb solve SPEC... -c CHANNEL``: solve through py-rattler for this host or a simulated one."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..solve import SolveResult

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb solve``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "solve", help="solve specs against channels, for this host or a simulated one",
        description="Solve SPECs (conda MatchSpecs) against the channels with py-rattler, reading "
                    "classic and v3.whl records. Virtual packages are this host's unless "
                    "--platform names another platform; --virtual adds or overrides one.")
    parser.add_argument("specs", nargs="+", metavar="SPEC")
    parser.add_argument("-c", "--channel", action="append", required=True, dest="channels",
                        metavar="CHANNEL", help="channel directory or http(s) URL (repeatable)")
    parser.add_argument("--platform", metavar="SUBDIR",
                        help="target subdir (default: this machine's)")
    parser.add_argument("--virtual", action="append", default=[], metavar="NAME=VERSION[=BUILD]",
                        help="simulate a virtual package, e.g. __cuda=12.4 (repeatable)")
    parser.add_argument("--no-host", action="store_true",
                        help="ignore this host's virtual packages: use only --virtual and the "
                             "platform's __unix/__linux/__win")
    parser.add_argument("--explain", action="store_true",
                        help="say for each candidate not chosen which requirement it failed")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Solve, print the chosen records (and explanations); exit 1 when there is no solution."""
    from ..solve import parse_virtual, solve

    virtual = [parse_virtual(v) for v in args.virtual]
    use_host = False if args.no_host else None
    result = solve(args.specs, args.channels, platform=args.platform, virtual=virtual,
                   use_host=use_host, with_candidates=args.explain)
    if args.json:
        print(json.dumps(_as_json(result, explain=args.explain), indent=2))
    else:
        _print_text(result, explain=args.explain)
    return 0 if result.error is None else 1


def _as_json(result: SolveResult, *, explain: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "platform": result.platform,
        "virtual_packages": [str(v) for v in result.virtual_packages],
        "records": result.records,
        "solved": result.error is None,
    }
    if result.error is not None:
        data["error"] = result.error
    if explain:
        data["candidates"] = [
            {"name": c.name, "version": c.version, "build": c.build, "fn": c.fn,
             "subdir": c.subdir, "chosen": c.chosen, "reasons": list(c.reasons)}
            for c in result.candidates]
    return data


def _print_text(result: SolveResult, *, explain: bool) -> None:
    host = ", ".join(str(v) for v in result.virtual_packages) or "none"
    print(f"platform {result.platform}; virtual packages: {host}")
    if result.error is not None:
        print(f"no solution: {result.error}")
    for r in result.records:
        print(f"  {r['name']} {r['version']} {r['build']}  [{r['kind']}] {r['subdir']}/{r['fn']}")
    if explain:
        for c in result.candidates:
            if c.chosen:
                print(f"chosen   {c.name} {c.version} {c.build}")
            else:
                print(f"rejected {c.name} {c.version} {c.build}: {'; '.join(c.reasons)}")
