"""Latency–accuracy studies: a base scenario times a grid of overrides.

The package is also the API call ``cosim.study(path, ...)``
(:func:`cosim.api.study`): ``import cosim.study.config`` binds the name
``cosim.study`` to this package, so the package itself is made callable.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from cosim.api import study

        return study(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
