"""Names of a package that load their module on first use (PEP 562).

`import zfnet_tf` (and `zfnet-tf --help`, and the model server) then pays for TensorFlow, Keras
and the model code only when a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable, Callable]:
    """`(__getattr__, __dir__)` for `package` whose names `exports` maps to their modules."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(exports))

    return __getattr__, __dir__
