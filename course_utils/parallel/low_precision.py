"""Low precision in 2026: floating-point formats and block-wise 8-bit optimizer states.

**Formats.** FP32, FP16, BF16 and the two FP8 formats (E4M3 and E5M2, Micikevicius et al.
2022, https://arxiv.org/abs/2209.05433) are sign + exponent + mantissa. With ``e`` exponent
bits, ``m`` mantissa bits and bias ``2^(e-1) - 1``: the gap between neighbours of ``x`` is
``2^(floor(log2 |x|) - m)`` (relative spacing ``eps = 2^-m``), the smallest normal number
``2^(1 - bias)``, the smallest subnormal ``2^(1 - bias - m)``. The largest finite number is
``(2 - 2^-m) 2^emax`` with ``emax = 2^e - 2 - bias`` (the top exponent is for inf/NaN),
except E4M3 ("fn": finite, no infinities), which keeps the top exponent for numbers and
only the all-ones mantissa for NaN: ``1.75 * 2^8 = 448``. :func:`float_format` computes
these; the unit tests check them against ``torch.finfo``. :func:`roundtrip_report`
casts a real tensor and counts what the format loses (relative error, underflow to zero,
overflow), optionally after multiplying by a scale as FP8 recipes do.

**Block-wise 8-bit states** (Dettmers, Lewis, Shleifer & Zettlemoyer 2022, "8-bit
Optimizers via Block-wise Quantization", https://arxiv.org/abs/2110.02861): Adam's two
state tensors are stored as 8-bit codes. The tensor is cut into blocks of ``block_size``
values (the paper: 2048); each block is divided by its own absolute maximum and coded
with the dynamic-tree code book of the 2016 paper. The code book and the quantiser are
:func:`course_utils.parallel.compression.quantize_8bit` /
:func:`~course_utils.parallel.compression.dequantize_8bit`, reused, not re-implemented;
``block_size=None`` is one global scale per tensor, the 2016 scheme. Memory per state:
one byte per value plus one float32 absolute maximum per block
(:func:`blockwise_state_bytes`). The 2022 paper also adapts the code book to optimiser
states; here both states use the signed 2016 code book unchanged, so the non-negative
second moment wastes its sign bit.

:class:`Adam8bit` is Adam with such states; :func:`train_digits` trains the digits MLP of
:mod:`course_utils.parallel.train_ddp` with it or with ``torch.optim.Adam``. Imports torch.

Used in: :doc:`/notebooks/modern_interconnects_precision`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core.checks import check_choice, check_int, check_number
from .compression import dequantize_8bit, mean_relative_error, quantize_8bit

__all__ = [
    "FORMATS",
    "FloatFormat",
    "float_format",
    "spacing",
    "roundtrip_report",
    "quantize_blockwise",
    "dequantize_blockwise",
    "blockwise_state_bytes",
    "blockwise_error",
    "Adam8bit",
    "optimizer_state_bytes",
    "train_digits",
]

#: name -> (exponent bits, mantissa bits); the names are torch's dtype names.
_LAYOUT = {
    "float32": (8, 23),
    "float16": (5, 10),
    "bfloat16": (8, 7),
    "float8_e4m3fn": (4, 3),
    "float8_e5m2": (5, 2),
}
FORMATS = tuple(_LAYOUT)


@dataclass(frozen=True)
class FloatFormat:
    """One floating-point format; all values are plain numbers (no units).

    Attributes:
        bits: total bits (1 sign + exponent + mantissa).
        eps: relative spacing at 1, ``2^-mantissa_bits``.
        max: largest finite value. smallest_normal, smallest_subnormal: as named.
    """

    name: str
    bits: int
    exponent_bits: int
    mantissa_bits: int
    bias: int
    max: float
    smallest_normal: float
    smallest_subnormal: float
    eps: float

    @property
    def dtype(self) -> torch.dtype:
        """The torch dtype of this format."""
        return getattr(torch, self.name)

    @property
    def decades(self) -> float:
        """Dynamic range of the normal numbers in decades: log10(max / smallest_normal)."""
        return math.log10(self.max / self.smallest_normal)


def float_format(name: str) -> FloatFormat:
    """The layout, range and spacing of format ``name`` (one of :data:`FORMATS`)."""
    check_choice("name", name, FORMATS)
    e, m = _LAYOUT[name]
    bias = 2 ** (e - 1) - 1
    if name == "float8_e4m3fn":  # no infinities: the top exponent holds numbers up to 1.75
        largest = (2 - 2 * 2.0**-m) * 2.0 ** (2**e - 1 - bias)
    else:
        largest = (2 - 2.0**-m) * 2.0 ** (2**e - 2 - bias)
    return FloatFormat(name=name, bits=1 + e + m, exponent_bits=e, mantissa_bits=m, bias=bias,
                       max=largest, smallest_normal=2.0 ** (1 - bias),
                       smallest_subnormal=2.0 ** (1 - bias - m), eps=2.0**-m)


def spacing(x: Any, name: str) -> np.ndarray:
    """Gap between ``|x|`` and the next larger number of format ``name`` (same units as x).

    ``x`` must lie within the format's finite range; subnormals have the constant gap
    ``smallest_subnormal``.
    """
    f = float_format(name)
    a = np.abs(np.asarray(x, dtype=np.float64))
    if not np.all(np.isfinite(a)) or np.any(a > f.max):
        raise ValueError(f"x must be finite with |x| <= {f.max:g} (the largest {name}), "
                         f"got max |x| = {float(np.max(a, initial=0)):g}")
    exponent = np.floor(np.log2(np.maximum(a, f.smallest_normal)))
    return 2.0 ** (exponent - f.mantissa_bits)


def roundtrip_report(x: Any, name: str, *, scale: float = 1.0) -> dict[str, float]:
    """Cast ``x * scale`` to format ``name`` and back; what was lost.

    Returns the fractions of non-zero values that ``underflow`` (become 0) and
    ``overflow`` (beyond the largest finite value: inf, NaN or saturated), and the
    ``mean_rel_error`` and ``max_rel_error`` over the values that neither under- nor
    overflow (fractions, not percent). ``x``: a float NumPy array or tensor.
    """
    f = float_format(name)
    scale = check_number("scale", scale, minimum=0, strict_minimum=True)
    t = torch.as_tensor(np.asarray(x, dtype=np.float64) if not torch.is_tensor(x) else x)
    if not t.is_floating_point() or t.numel() == 0:
        raise ValueError("x must be a non-empty floating-point array")
    t = t.double().reshape(-1) * scale
    back = t.to(f.dtype).double()
    nonzero = t != 0
    over = nonzero & ((t.abs() > f.max) | ~torch.isfinite(back))
    under = nonzero & (back == 0) & ~over
    ok = nonzero & ~over & ~under
    rel = ((back[ok] - t[ok]).abs() / t[ok].abs()) if bool(ok.any()) else torch.zeros(1)
    n = max(int(nonzero.sum()), 1)
    return {"underflow": int(under.sum()) / n, "overflow": int(over.sum()) / n,
            "mean_rel_error": float(rel.mean()), "max_rel_error": float(rel.max())}


# --- block-wise 8-bit quantisation --------------------------------------------------------


def _block_size(block_size: int | None) -> int | None:
    return None if block_size is None else check_int("block_size", block_size, minimum=1)


def quantize_blockwise(
    x: torch.Tensor, block_size: int | None = 2048, scheme: str = "dynamic_tree"
) -> tuple[torch.Tensor, torch.Tensor]:
    """8-bit codes of ``x`` (flat, uint8) and one float32 absolute maximum per block.

    Each block of ``block_size`` consecutive values (``None``: the whole tensor, one
    global scale) is divided by its absolute maximum and coded by
    :func:`~course_utils.parallel.compression.quantize_8bit` with ``scheme``.
    """
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    block_size = _block_size(block_size)
    flat = x.detach().reshape(-1).float()
    n = flat.numel()
    size = n if block_size is None else block_size
    blocks = -(-n // size) if n else 0
    padded = torch.zeros(blocks * size, dtype=torch.float32, device=flat.device)
    padded[:n] = flat
    rows = padded.view(blocks, size)
    absmax = rows.abs().amax(dim=1) if blocks else torch.zeros(0)
    codes, scale = quantize_8bit(rows / torch.where(absmax > 0, absmax, 1.0)[:, None], scheme)
    return codes.reshape(-1)[:n].contiguous(), (absmax * scale).float()


def dequantize_blockwise(
    codes: torch.Tensor, absmax: torch.Tensor, shape: tuple[int, ...],
    block_size: int | None = 2048, scheme: str = "dynamic_tree",
) -> torch.Tensor:
    """Inverse of :func:`quantize_blockwise`: a float32 tensor of ``shape``."""
    block_size = _block_size(block_size)
    n = codes.numel()
    if math.prod(shape) != n:
        raise ValueError(f"shape must hold {n} values (the codes), got {tuple(shape)}")
    size = n if block_size is None else block_size
    if absmax.numel() != (-(-n // size) if n else 0):
        raise ValueError(f"absmax must hold one value per block of {size}, got {absmax.numel()}")
    values = dequantize_8bit(codes, 1.0, scheme)
    per_value = absmax.repeat_interleave(size)[:n] if n else absmax
    return (values * per_value).reshape(shape)


def blockwise_state_bytes(n_values: int, block_size: int | None = 2048) -> int:
    """Bytes of one 8-bit state tensor of ``n_values``: 1 per value + 4 per block."""
    n = check_int("n_values", n_values, minimum=0)
    block_size = _block_size(block_size)
    blocks = (1 if n else 0) if block_size is None else -(-n // block_size)
    return n + 4 * blocks


def blockwise_error(
    x: torch.Tensor, block_size: int | None = 2048, scheme: str = "dynamic_tree"
) -> dict[str, float]:
    """Round-trip ``x`` through :func:`quantize_blockwise`: ``mean_rel_error`` (fraction,
    over non-zero entries) and ``flushed`` (fraction of non-zero entries that became 0)."""
    codes, absmax = quantize_blockwise(x, block_size, scheme)
    back = dequantize_blockwise(codes, absmax, tuple(x.shape), block_size, scheme)
    a, b = x.detach().double().cpu().numpy(), back.double().cpu().numpy()
    nz = a != 0
    return {"mean_rel_error": mean_relative_error(a, b),
            "flushed": float(np.mean(b[nz] == 0)) if nz.any() else 0.0}


class Adam8bit(torch.optim.Optimizer):
    """Adam whose two moments are stored as 8-bit codes (see the module docstring).

    Each step decodes ``m`` and ``v``, runs the float32 Adam update (with bias
    correction), and codes them again. ``block_size=None``: one scale per tensor.
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, *, block_size: int | None = 2048,
                 scheme: str = "dynamic_tree") -> None:
        lr = check_number("lr", lr, minimum=0, strict_minimum=True)
        b1 = check_number("betas[0]", betas[0], minimum=0, maximum=1)
        b2 = check_number("betas[1]", betas[1], minimum=0, maximum=1)
        eps = check_number("eps", eps, minimum=0)
        check_choice("scheme", scheme, ("dynamic_tree", "static_tree", "linear",
                                        "mantissa_exponent"))
        super().__init__(params, {"lr": lr, "betas": (b1, b2), "eps": eps,
                                  "block_size": _block_size(block_size), "scheme": scheme})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D102
        loss = None if closure is None else closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            bs, scheme = group["block_size"], group["scheme"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.float()
                st = self.state[p]
                if not st:
                    st["step"] = 0
                    m, v = torch.zeros_like(g), torch.zeros_like(g)
                else:
                    m = dequantize_blockwise(*st["m"], tuple(g.shape), bs, scheme)
                    v = dequantize_blockwise(*st["v"], tuple(g.shape), bs, scheme)
                st["step"] += 1
                t = st["step"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                denom = (v / (1 - b2**t)).sqrt_().add_(group["eps"])
                p.add_((m / (1 - b1**t) / denom).to(p.dtype), alpha=-group["lr"])
                st["m"] = quantize_blockwise(m, bs, scheme)
                st["v"] = quantize_blockwise(v, bs, scheme)
        return loss


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of all state tensors of ``optimizer`` (step counters excluded)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    total = 0
    for st in optimizer.state.values():
        for key, value in st.items():
            if key == "step":
                continue
            for t in value if isinstance(value, tuple) else (value,):
                if torch.is_tensor(t):
                    total += t.numel() * t.element_size()
    return total


def train_digits(
    state: str = "fp32", *, block_size: int | None = 2048, scheme: str = "dynamic_tree",
    hidden: int = 128, epochs: int = 6, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
) -> dict[str, Any]:
    """Train the digits MLP (64-hidden-10, float32) with Adam, states in ``state`` format.

    ``state``: "fp32" (``torch.optim.Adam``) or "8bit" (:class:`Adam8bit` with
    ``block_size`` and ``scheme``). Seeded: the same batches for every run. Returns
    ``losses`` (mean training loss per epoch), ``test_accuracy``, ``state_bytes``,
    ``parameters``, ``tensor_sizes`` (values per parameter tensor) and the trained
    ``optimizer``. Runs on one CPU
    thread (restored afterwards): tensors this small gain nothing from more, and on a busy
    machine extra threads made each quantisation tens of times slower.
    """
    check_choice("state", state, ("fp32", "8bit"))
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(state, block_size, scheme, hidden, epochs, batch_size, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _train(state: str, block_size: int | None, scheme: str, hidden: int, epochs: int,
           batch_size: int, lr: float, seed: int) -> dict[str, Any]:
    from .train_ddp import load_digits_split, make_model

    X, y, X_te, y_te = load_digits_split(seed=seed, dtype=torch.float32)
    model = make_model(hidden=hidden, seed=seed, dtype=torch.float32)
    opt = (torch.optim.Adam(model.parameters(), lr=lr) if state == "fp32"
           else Adam8bit(model.parameters(), lr=lr, block_size=block_size, scheme=scheme))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order, total = torch.randperm(len(X), generator=gen), 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(X))
    with torch.no_grad():
        accuracy = float((model(X_te).argmax(1) == y_te).float().mean())
    return {"losses": losses, "test_accuracy": accuracy, "state_bytes": optimizer_state_bytes(opt),
            "parameters": sum(p.numel() for p in model.parameters()),
            "tensor_sizes": [p.numel() for p in model.parameters()], "optimizer": opt}
