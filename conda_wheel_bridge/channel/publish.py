"""Publish a channel's conda packages and wheels to anaconda.org (or a server speaking its API).

Every artifact is read and checked before the first request. A file already on the server with the
same sha256 is skipped, so a publish run again finishes what an interrupted one left. ``force``
replaces a file whose content differs without ever leaving its package with no file (anaconda.org
may drop an empty package with its settings): a keeper copy under a hidden label holds the package
while the old file is swapped out.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..defaults import CONDA_SUFFIXES
from ..errors import BadMetadata, CwbError
from ..wheelfile import WheelInfo, open_wheel
from ..wheelname import parse_wheel_filename
from .anaconda_api import AnacondaClient, Conflict, NotFound, file_digests
from .artifact import read_conda_facts
from .index import ARTIFACT_SUFFIXES, SUBDIR_NAME

__all__ = [
    "KEEP_LABEL",
    "Artifact",
    "Outcome",
    "collect_artifacts",
    "publish_to_anaconda",
    "validate_label",
    "validate_owner",
]

#: label of the temporary keeper copy that holds a package while ``force`` swaps its only file
KEEP_LABEL = "cwb-keep"
_KEEP_SUFFIX = "_cwbkeep"
_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_CONDA_NAME_RE = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")
_CONDA_VERSION_RE = re.compile(r"^[A-Za-z0-9_.+!]+$")
_CONDA_BUILD_RE = re.compile(r"^[A-Za-z0-9_.+]+$")


@dataclass(frozen=True)
class Artifact:
    """One file to publish, with the anaconda.org coordinates it goes to."""

    path: Path
    kind: str  # "conda" or "pypi" (anaconda.org's distribution_type)
    name: str
    version: str
    basename: str  # "<subdir>/<fn>" for conda, the wheel file name for wheels
    attrs: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""
    license: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What publishing one artifact did: uploaded, skipped, labelled or replaced."""

    artifact: Artifact
    action: str
    labels: tuple[str, ...] = ()


def validate_owner(owner: str) -> str:
    """An anaconda.org user or organisation name (raises :class:`CwbError`)."""
    if not _OWNER_RE.match(owner):
        raise CwbError(f"owner {owner!r}", "not a valid anaconda.org user or organisation name")
    return owner


def validate_label(label: str) -> str:
    """A label: letters, digits, ``_ . -``, starting with a letter or digit (no ``/``)."""
    if not _LABEL_RE.match(label):
        raise CwbError(f"label {label!r}", "labels are letters, digits, '_', '.', '-' (no '/')")
    if label == KEEP_LABEL:
        raise CwbError(f"label {label!r}", "reserved for the keeper copies that --force uses")
    return label


def collect_artifacts(channel: Path) -> list[Artifact]:
    """Every conda package and wheel of ``channel``, read and checked (raises on the first bad one).

    Conda packages come from ``<subdir>/`` folders; wheels from those, ``wheels/`` and ``simple/*/``
    (a wheel found twice under the same name is published once).
    """
    if not channel.is_dir():
        raise CwbError(channel, "not a channel directory")
    found: dict[str, Artifact] = {}
    for path in _channel_files(channel):
        artifact = _read_conda(path) if path.name.endswith(CONDA_SUFFIXES) else _read_wheel(path)
        previous = found.get(artifact.basename)
        if previous is not None:
            if previous.path.stat().st_size != path.stat().st_size:
                raise CwbError(path, f"differs from {previous.path} but has the same name")
            continue
        found[artifact.basename] = artifact
    return [found[key] for key in sorted(found)]


def _channel_files(channel: Path) -> Iterable[Path]:
    for sub in sorted(channel.iterdir()):
        if sub.is_dir() and SUBDIR_NAME.match(sub.name):
            for path in sorted(sub.iterdir()):
                if path.is_file() and path.name.endswith(ARTIFACT_SUFFIXES):
                    yield path
    for folder, pattern in ((channel / "wheels", "*.whl"), (channel / "simple", "*/*.whl")):
        if folder.is_dir():  # wheels exported by ``cwb index``; wheels placed beside the pages
            yield from sorted(p for p in folder.glob(pattern) if p.is_file())


def _read_conda(path: Path) -> Artifact:
    """The conda package at ``path``, its ``info/`` read by the index's reader (not hashed here:
    :class:`_Session` hashes each file just before its upload)."""
    facts = read_conda_facts(path, hashes=False)
    record = facts["record"]
    name, version, build = (str(record[k]) for k in ("name", "version", "build"))
    subdir = str(record.get("subdir") or path.parent.name)
    if not _CONDA_NAME_RE.match(name):
        raise BadMetadata(path, f"index.json name {name!r} is not a valid conda package name")
    if not _CONDA_VERSION_RE.match(version):
        raise BadMetadata(path, f"index.json version {version!r} is not a valid conda version")
    if not _CONDA_BUILD_RE.match(build):
        raise BadMetadata(path, f"index.json build {build!r} is not a valid build string")
    ext = ".conda" if path.name.endswith(".conda") else ".tar.bz2"
    if path.name != f"{name}-{version}-{build}{ext}":
        raise BadMetadata(path, f"file name is not {name}-{version}-{build}{ext} (index.json)")
    if subdir != path.parent.name:
        raise BadMetadata(path, f"index.json subdir {subdir!r} but folder {path.parent.name}/")
    about = facts["about"]
    attrs = dict(record)
    attrs["subdir"] = subdir
    return Artifact(
        path=path, kind="conda", name=name, version=version, basename=f"{subdir}/{path.name}",
        attrs=attrs, summary=str(about.get("summary") or ""),
        license=str(record.get("license") or about.get("license") or "") or None,
    )


def _read_wheel(path: Path) -> Artifact:
    """The wheel at ``path``, validated by :func:`open_wheel` (file name, one dist-info, METADATA
    Name/Version vs the file name); only its dist-info files are read, never the payload."""
    info = _wheel_info(path)
    fn = info.filename
    stem = path.name[: -len(".whl")]
    if fn.variant_label:
        stem = stem[: -len(fn.variant_label) - 1]
    python, abi, platform = stem.split("-")[-3:]
    attrs = {
        "build_no": fn.build if fn.build is not None else 0,
        "python_version": python,
        "abi": None if abi == "none" else abi,
        "platform": None if platform == "any" else platform,
        "packagetype": "bdist_wheel",
    }
    return Artifact(
        path=path, kind="pypi", name=canonicalize_name(fn.name), version=fn.version,
        basename=path.name, attrs=attrs, summary=str(info.metadata.get("Summary") or ""),
        license=info.license_expression or info.license or None,
    )


def _wheel_info(path: Path) -> WheelInfo:
    with open_wheel(path) as wheel:
        return wheel.info


# -- publishing ------------------------------------------------------------------------------


def publish_to_anaconda(
    artifacts: Sequence[Artifact],
    *,
    owner: str,
    client: AnacondaClient,
    labels: Sequence[str] = ("main",),
    force: bool = False,
    report: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Upload ``artifacts`` to ``owner`` under ``labels``; return what was done to each.

    Validates ``owner`` and ``labels``, checks the token, then publishes file by file.
    """
    validate_owner(owner)
    label_list = [validate_label(label) for label in labels] or ["main"]
    login = client.check_token()
    if login != owner:
        try:
            client.user(owner)
        except NotFound:
            raise NotFound(f"owner {owner}", "no such user or organisation") from None
    session = _Session(client, owner, label_list)
    outcomes = []
    for artifact in artifacts:
        outcome = session.publish(artifact, force=force)
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
    return outcomes


class _Session:
    """State of one publish: packages and releases known to exist on the server."""

    def __init__(self, client: AnacondaClient, owner: str, labels: list[str]) -> None:
        self.client = client
        self.owner = owner
        self.labels = labels
        self.packages: dict[str, dict[str, Any]] = {}
        self.releases: set[tuple[str, str]] = set()

    def publish(self, art: Artifact, *, force: bool) -> Outcome:
        sha256, md5_b64, size = file_digests(art.path)
        digests = (sha256, md5_b64, size)
        existing = self.client.distribution(self.owner, art.name, art.version, art.basename)
        if existing is not None:
            if _same_content(existing, sha256, md5_b64):
                have = {str(x) for x in existing.get("labels") or ()}
                missing = [label for label in self.labels if label not in have]
                for label in missing:
                    self.client.add_label(self.owner, label, name=art.name, version=art.version,
                                          basename=art.basename)
                return Outcome(art, "labelled" if missing else "skipped", tuple(missing))
            if not force:
                raise Conflict(
                    str(art.path),
                    f"{self.owner}/{art.name}/{art.version}/{art.basename} exists with other "
                    "content (different sha256); pass --force to replace it",
                    409,
                )
            self._replace(art, digests)
            return Outcome(art, "replaced", tuple(self.labels))
        package = self._ensure_package(art)
        self._ensure_release(art)
        try:
            self._upload(art, art.basename, art.attrs, self.labels, digests)
        except Conflict:  # another publisher got there first: fine if it is the same file
            theirs = self.client.distribution(self.owner, art.name, art.version, art.basename)
            if theirs is None or not _same_content(theirs, sha256, md5_b64):
                raise
            return Outcome(art, "skipped")
        keeper, _ = _keeper(art)
        if any(f.get("basename") == keeper for f in package.get("files") or ()):
            # a keeper left by an interrupted --force: the real file is back, drop it
            self.client.remove_distribution(self.owner, art.name, art.version, keeper)
        return Outcome(art, "uploaded", tuple(self.labels))

    def _replace(self, art: Artifact, digests: tuple[str, str, int]) -> None:
        """Swap the file for ours; if it is the package's only file, a keeper holds the package."""
        package = self.client.package(self.owner, art.name) or {}
        keeper_name, keeper_attrs = _keeper(art)
        present = {str(f.get("basename")) for f in package.get("files") or ()}
        use_keeper = not (present - {art.basename, keeper_name})
        if use_keeper and keeper_name not in present:  # (an interrupted run may have left one)
            self._upload(art, keeper_name, keeper_attrs, [KEEP_LABEL], digests)
        self.client.remove_distribution(self.owner, art.name, art.version, art.basename)
        self.releases.discard((art.name, art.version))
        self._ensure_release(art)
        self._upload(art, art.basename, art.attrs, self.labels, digests)
        if use_keeper:
            self.client.remove_distribution(self.owner, art.name, art.version, keeper_name)

    def _upload(self, art: Artifact, basename: str, attrs: Mapping[str, Any], labels: list[str],
                digests: tuple[str, str, int]) -> None:
        sha256, md5_b64, size = digests
        self.client.upload(
            self.owner, art.name, art.version, basename, art.path,
            distribution_type=art.kind, attrs=attrs, labels=labels,
            sha256=sha256, md5_b64=md5_b64, size=size,
        )

    def _ensure_package(self, art: Artifact) -> dict[str, Any]:
        package = self.packages.get(art.name)
        if package is None:
            package = self.client.package(self.owner, art.name)
            if package is None:
                package = self.client.add_package(
                    self.owner, art.name, summary=art.summary or art.name, license=art.license,
                    package_type=art.kind,
                )
            self.packages[art.name] = package
        return package

    def _ensure_release(self, art: Artifact) -> None:
        key = (art.name, art.version)
        if key in self.releases:
            return
        if self.client.release(self.owner, art.name, art.version) is None:
            self.client.add_release(self.owner, art.name, art.version,
                                    summary=art.summary or art.name)
        self.releases.add(key)


def _same_content(dist: Mapping[str, Any], sha256: str, md5_b64: str) -> bool:
    """Compare by sha256 when the server gives it, else by md5 (hex or base64)."""
    theirs = dist.get("sha256")
    if theirs:
        return str(theirs).lower() == sha256
    md5 = str(dist.get("md5") or "")
    if not md5:
        return False
    return md5 in (md5_b64, base64.b64decode(md5_b64).hex())


def _keeper(art: Artifact) -> tuple[str, dict[str, Any]]:
    """The basename and attrs of the keeper copy of ``art`` (a distinct, valid file name)."""
    attrs = dict(art.attrs)
    if art.kind == "conda":
        build = f"{attrs.get('build', '')}{_KEEP_SUFFIX}"
        attrs["build"] = build
        ext = ".conda" if art.basename.endswith(".conda") else ".tar.bz2"
        subdir = str(attrs.get("subdir", "noarch"))
        return f"{subdir}/{art.name}-{art.version}-{build}{ext}", attrs
    # the same name with the build tag 0cwbkeep: tags and any variant label stay as they are
    parts = art.basename[: -len(".whl")].split("-")
    rest = parts[3:] if parse_wheel_filename(art.basename).build is not None else parts[2:]
    attrs["build_no"] = "0cwbkeep"
    return "-".join([*parts[:2], "0cwbkeep", *rest]) + ".whl", attrs
