"""Names of a package that load their module on first use (PEP 562).

`import zfnet_tf` (and `zfnet-tf --help`, and the model server) then pays for TensorFlow, Keras
and the model code only when a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable, Mapping


def lazy_exports(
    package: str, modules: Mapping[str, Iterable[str]]
) -> tuple[Callable, Callable, list[str]]:
    """`(__getattr__, __dir__, __all__)` for `package`, whose public names `modules` lists by
    the module that defines them: `{"zfnet_tf.config": ("ZFNetConfig", ...), ...}`."""
    home = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str):
        if name in home:
            return getattr(importlib.import_module(home[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(importlib.import_module(package).__dict__) | set(home))

    return __getattr__, __dir__, sorted(home)
