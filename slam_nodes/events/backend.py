"""Which implementation the stateful word decoders (EVT3, EVT2, libcaer_cmp) run on.

Two implementations of each decoder exist, gsplat-style:
- "numpy": the vectorised pure-numpy reference (slam_nodes.events.evt3 / evt2 / packed); it
  always runs and is what the compiled kernels are tested against;
- "numba": compiled sequential kernels (slam_nodes.events._kernels), 10-50x faster.
"auto" (the default everywhere) picks "numba" when numba imports, else "numpy" with one
logged warning per process. Asking for "numba" where it does not import is an ImportError
that says what to install, never a silent switch.

Kernels are compiled on first use and cached on disk (numba cache=True, next to the module
or in numba's user cache), so only the first process that decodes pays the compile time.
"""

from __future__ import annotations

import logging
from types import ModuleType

from slam_nodes.errors import ConfigError

logger = logging.getLogger(__name__)

IMPLEMENTATIONS = ("auto", "numpy", "numba")
_state = {"warned": False, "kernels": None, "import_error": None}


def _load_kernels() -> ModuleType | None:
    """The kernels module, or None when numba cannot be imported (reason kept for errors)."""
    if _state["kernels"] is None and _state["import_error"] is None:
        try:
            from slam_nodes.events import _kernels
        except (ImportError, RuntimeError) as err:
            # numba missing or broken (e.g. numpy too new for it), or no writable cache
            # location for cache=True ("cannot cache function ... no locator available")
            _state["import_error"] = err
        else:
            _state["kernels"] = _kernels
    return _state["kernels"]


def resolve_implementation(implementation: str) -> str:
    """'numpy' or 'numba' for a requested 'auto' | 'numpy' | 'numba'.

    Raises ConfigError for other names and ImportError when 'numba' is requested but numba
    does not import; 'auto' falls back to 'numpy' with one warning per process."""
    if implementation not in IMPLEMENTATIONS:
        raise ConfigError(f"event decoder implementation must be one of "
                          f"{', '.join(IMPLEMENTATIONS)}, not {implementation!r}")
    if implementation == "numpy":
        return "numpy"
    if _load_kernels() is not None:
        return "numba"
    err = _state["import_error"]
    if implementation == "numba":
        raise ImportError(f"event decoder implementation 'numba' needs numba "
                          f"(pip install numba): {err}") from err
    if not _state["warned"]:
        _state["warned"] = True
        logger.warning("numba is not importable (%s): event decoding falls back to the pure "
                       "numpy implementation, 5-50x slower (pip install numba)", err)
    return "numpy"


def kernels() -> ModuleType:
    """The compiled kernels module (call only after resolve_implementation gave 'numba')."""
    mod = _load_kernels()
    if mod is None:
        raise ImportError(f"numba kernels unavailable: {_state['import_error']}")
    return mod
