"""mlplat: a managed machine-learning platform that lives inside Jupyter.

``import mlplat`` gives everything without IPython: ``mlplat.connect()`` returns
the platform client; ``mlplat.load_settings()`` the configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "Identity", "Settings", "__version__", "connect", "load_settings"]

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.client import Client, connect
    from mlplat.config import Settings, load_settings
    from mlplat.identity import Identity

_LAZY = {
    "Client": "mlplat.client",
    "connect": "mlplat.client",
    "Settings": "mlplat.config",
    "load_settings": "mlplat.config",
    "Identity": "mlplat.identity",
}


def __getattr__(name: str) -> Any:
    # Lazy so that `import mlplat` stays cheap for the CLI and kernels.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlplat' has no attribute {name!r}")
