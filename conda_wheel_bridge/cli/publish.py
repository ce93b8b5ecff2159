"""``cwb publish CHANNEL``: upload a channel to anaconda.org, or copy it to a static location.

``--owner O`` speaks anaconda.org's upload protocol (token from ``ANACONDA_API_TOKEN``);
``--to DIR_OR_FILE_URL`` writes a self-service static channel, indexes swapped in last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..defaults import DEFAULT_API_URL
from ..errors import CwbError

if TYPE_CHECKING:  # the library (requests ...) loads in run(), not for the parser
    from ..channel.publish import Artifact, Outcome
    from ..channel.publish_static import StaticCopy

__all__ = ["TOKEN_VARIABLE", "add_parser", "run"]

#: the environment variable holding the anaconda.org token (never a command-line argument)
TOKEN_VARIABLE = "ANACONDA_API_TOKEN"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``cwb publish``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "publish", help="publish a channel to anaconda.org or to a static location",
        description="Publish every conda package and wheel of CHANNEL: to an anaconda.org owner "
                    f"(--owner; the token comes from {TOKEN_VARIABLE}) or as a static channel "
                    "copied to a directory or file:// URL (--to). Files already published with "
                    "the same sha256 are skipped, so an interrupted publish can simply be rerun.")
    parser.add_argument("channel", metavar="CHANNEL", type=Path, help="channel directory")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--owner", metavar="O", help="anaconda.org user or organisation")
    where.add_argument("--to", metavar="DIR_OR_FILE_URL", help="static destination")
    parser.add_argument("--label", "-l", action="append", default=[], metavar="L",
                        help="label for the uploaded files (repeatable; default: main)")
    parser.add_argument("--api-url", default=DEFAULT_API_URL, metavar="URL",
                        help=f"API server (default {DEFAULT_API_URL})")
    parser.add_argument("--force", action="store_true",
                        help="replace files already published with different content")
    parser.add_argument("--retries", type=int, default=4, metavar="N",
                        help="retries on 5xx answers and connection errors (default 4)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan; change nothing and contact no server")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    return parser


def run(args: argparse.Namespace) -> int:
    """Publish and print one line per file (or a JSON report)."""
    if args.to is not None:
        return _run_static(args)
    return _run_anaconda(args)


def _run_anaconda(args: argparse.Namespace) -> int:
    from ..channel.anaconda_api import AnacondaClient, AuthError
    from ..channel.publish import (
        Outcome,
        collect_artifacts,
        publish_to_anaconda,
        validate_label,
        validate_owner,
    )

    owner = validate_owner(args.owner)
    labels = [validate_label(label) for label in args.label] or ["main"]
    artifacts = collect_artifacts(args.channel)
    if args.dry_run:
        outcomes = [Outcome(a, "would upload", tuple(labels)) for a in artifacts]
        _print_anaconda(args, owner, labels, outcomes, dry_run=True)
        return 0
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not token:
        raise AuthError(TOKEN_VARIABLE, "not set: create a token on anaconda.org and export it")
    client = AnacondaClient(token, args.api_url, retries=args.retries)
    report = None if args.json else (lambda o: print(_line(owner, o), flush=True))
    outcomes = publish_to_anaconda(artifacts, owner=owner, client=client, labels=labels,
                                   force=args.force, report=report)
    if args.json:
        _print_anaconda(args, owner, labels, outcomes, dry_run=False)
    else:
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.action] = counts.get(outcome.action, 0) + 1
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing"
        print(f"published {args.channel} to {owner}: {summary}")
        if args.api_url == DEFAULT_API_URL:
            for label in labels:
                suffix = "" if label == "main" else f"/label/{label}"
                print(f"  conda: https://conda.anaconda.org/{owner}{suffix}")
                print(f"  pip:   https://pypi.anaconda.org/{owner}{suffix}/simple")
    return 0


def _line(owner: str, outcome: Outcome) -> str:
    art = outcome.artifact
    where = f"{owner}/{art.name}/{art.version}"
    labels = f" [{', '.join(outcome.labels)}]" if outcome.labels else ""
    return f"{outcome.action:>9} {art.basename} -> {where}{labels}"


def _artifact_json(art: Artifact) -> dict[str, Any]:
    return {"file": str(art.path), "basename": art.basename, "type": art.kind,
            "package": art.name, "version": art.version}


def _print_anaconda(args: argparse.Namespace, owner: str, labels: list[str],
                    outcomes: list[Outcome], *, dry_run: bool) -> None:
    if args.json:
        report = {
            "owner": owner, "labels": labels, "api_url": args.api_url, "dry_run": dry_run,
            "files": [{**_artifact_json(o.artifact), "action": o.action,
                       "labels": list(o.labels)} for o in outcomes],
        }
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print(f"plan: {len(outcomes)} files to {owner} at {args.api_url} (labels: "
          f"{', '.join(labels)}); files already there with the same sha256 will be skipped")
    for outcome in outcomes:
        print(_line(owner, outcome))


def _run_static(args: argparse.Namespace) -> int:
    from ..channel.publish_static import destination_path, publish_static, unindexed_subdirs

    if args.label or args.force:
        raise CwbError("--to", "--label and --force apply to anaconda.org (--owner) only")
    dest = destination_path(args.to)
    report = None
    if not args.json and not args.dry_run:
        def report(step: StaticCopy) -> None:
            if step.copied:
                print(f"{'  index' if step.index else ' copied'} {step.relpath}", flush=True)
    steps = publish_static(args.channel, args.to, dry_run=args.dry_run, on_step=report)
    if args.json:
        json.dump({"destination": str(dest), "dry_run": args.dry_run,
                   "files": [{"path": s.relpath, "index": s.index, "copy": s.copied}
                             for s in steps]}, sys.stdout, indent=2)
        print()
        return 0
    if args.dry_run:
        if unindexed_subdirs(args.channel):
            print(f"plan: index {args.channel} first (no repodata.json yet), then:")
        print(f"plan: copy {args.channel} to {dest}, packages first, indexes last")
        for step in steps:
            what = ("would index" if step.index else "would copy") if step.copied else "same"
            print(f"{what:>11} {step.relpath}")
        return 0
    copied = sum(1 for s in steps if s.copied)
    print(f"published {args.channel} to {dest}: {copied} copied, {len(steps) - copied} unchanged")
    return 0
