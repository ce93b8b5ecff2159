"""A wheel's license as conda wants it: an SPDX expression (never a license text) and its files.

The expression comes from ``License-Expression`` (core metadata 2.4), else a short ``License`` field
that is already SPDX, else the trove classifiers that name exactly one SPDX license.
"""

from __future__ import annotations

import email.message
import posixpath

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

from .errors import BadArchive
from .wheelfile import WheelReader

__all__ = ["MAX_LICENSE_FILE", "license_files", "spdx_license"]

#: license files are copied whole into info/licenses/; anything bigger is not a license
MAX_LICENSE_FILE = 4 << 20

#: trove classifiers that name one SPDX license (ambiguous ones such as "BSD License" are absent)
_OSI = "License :: OSI Approved :: "
_CLASSIFIERS = {
    _OSI + "MIT License": "MIT",
    _OSI + "MIT No Attribution License (MIT-0)": "MIT-0",
    _OSI + "Apache Software License": "Apache-2.0",
    _OSI + "ISC License (ISCL)": "ISC",
    _OSI + "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    _OSI + "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    _OSI + "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    _OSI + "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    _OSI + "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    _OSI + "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    _OSI + "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    _OSI + "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    _OSI + "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    _OSI + "GNU Affero General Public License v3": "AGPL-3.0-only",
    _OSI + "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    _OSI + "Python Software Foundation License": "PSF-2.0",
    _OSI + "The Unlicense (Unlicense)": "Unlicense",
    _OSI + "zlib/libpng License": "Zlib",
    _OSI + "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    _OSI + "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    _OSI + "Universal Permissive License (UPL)": "UPL-1.0",
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
#: short free-text License values that are common and unambiguous
_SHORT = {
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "mit license": "MIT",
    "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "simplified bsd": "BSD-2-Clause",
    "psf": "PSF-2.0",
    "mpl 2.0": "MPL-2.0",
    "mpl-2": "MPL-2.0",
    "isc license": "ISC",
}


def _canonical(text: str) -> str | None:
    try:
        return str(canonicalize_license_expression(text))
    except InvalidLicenseExpression:
        return None


def spdx_license(metadata: email.message.Message) -> str | None:
    """The SPDX license expression of a wheel's METADATA, or ``None`` when it names none exactly."""
    expr = metadata.get("License-Expression")
    if expr and str(expr).strip():
        return _canonical(str(expr).strip())
    field = str(metadata.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 100:
        found = _canonical(field) or _SHORT.get(field.lower())
        if found:
            return found
    classified = sorted(
        {
            _CLASSIFIERS[c]
            for c in (str(v).strip() for v in metadata.get_all("Classifier") or [])
            if c in _CLASSIFIERS
        }
    )
    if classified:
        return _canonical(" OR ".join(classified))
    return None


def license_files(reader: WheelReader) -> list[tuple[str, bytes]]:
    """``(relative name, bytes)`` of every ``License-File`` and every file under
    ``.dist-info/licenses/`` (PEP 639), for ``info/licenses/``."""
    info = reader.info
    names = {m.name: m for m in reader.members}
    base = info.dist_info
    found: dict[str, str] = {}
    for value in info.metadata.get_all("License-File") or []:
        rel = posixpath.normpath(str(value).strip())
        if rel.startswith(("../", "/")) or rel == "..":
            continue
        for candidate in (f"{base}/licenses/{rel}", f"{base}/{rel}"):
            if candidate in names:
                found[rel] = candidate
                break
    prefix = f"{base}/licenses/"
    for name in names:
        if name.startswith(prefix):
            found.setdefault(name[len(prefix) :], name)
    out = []
    for rel, member_name in sorted(found.items()):
        member = names[member_name]
        if member.size > MAX_LICENSE_FILE:
            raise BadArchive(info.path, f"license file {member_name} is {member.size} bytes")
        out.append((rel, reader.read(member_name)))
    return out
