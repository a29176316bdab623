"""What an embedder returns is checked before it is stored or searched with.

A custom embedder that answers NaN, inf, the wrong dimension, the wrong number
of rows or something that is not floats raises :class:`EmbedderError`; nothing
is written (the check runs before the store's transaction).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from engramdb.core.errors import EmbedderError

F32 = npt.NDArray[np.float32]


def checked_matrix(value: Any, rows: int, dim: int, model_id: str) -> F32:
    """``value`` as a finite float32 matrix of shape (rows, dim)."""
    arr = _floats(value, model_id)
    if arr.shape != (rows, dim):
        raise EmbedderError(f"embedder {model_id!r} returned shape {arr.shape} for {rows} texts; "
                            f"expected ({rows}, {dim})")
    return _finite(arr, model_id)


def checked_vector(value: Any, dim: int, model_id: str) -> F32:
    """``value`` as a finite float32 vector of shape (dim,)."""
    arr = _floats(value, model_id)
    if arr.shape != (dim,):
        raise EmbedderError(f"embedder {model_id!r} returned shape {arr.shape} for a query; expected ({dim},)")
    return _finite(arr, model_id)


def _floats(value: Any, model_id: str) -> npt.NDArray[Any]:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged lists, odd objects
        raise EmbedderError(f"embedder {model_id!r} returned something that is not an array: {exc}") from None
    if arr.dtype.kind != "f":
        raise EmbedderError(f"embedder {model_id!r} returned {arr.dtype} values; expected floats")
    return arr


def _finite(arr: npt.NDArray[Any], model_id: str) -> F32:
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused below
        out = arr.astype(np.float32, copy=False)
    if not np.isfinite(out).all():
        raise EmbedderError(f"embedder {model_id!r} returned NaN or infinite values")
    return out
