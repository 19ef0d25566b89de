"""The software a trace was written with (root attribute ``versions_json``).

Versions come from the installed distributions' metadata, so recording them
imports nothing (the simulator never imports torch). The platform string is
:func:`platform.platform` (OS, kernel, architecture, libc): no host name.
"""

from __future__ import annotations

import platform
from importlib import metadata

#: Distributions whose versions decide a run's numbers.
PACKAGES = ("torch", "transformers", "peft", "numpy", "cosim")


def environment_versions() -> dict[str, str]:
    """``{"python": ..., "torch": ..., ..., "platform": ...}`` ("" when not installed)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = ""
    out["platform"] = platform.platform()
    return out
