"""DDP communication hooks that send compressed gradients and count the bytes they send.

Register one on a ``DistributedDataParallel`` model::

    state = HookState(scheme="dynamic_tree")
    ddp.register_comm_hook(state, compressed_allreduce_hook)

With ``scheme="fp32"`` the hook does what DDP does by default (all-reduce the bucket,
divide by the world size) but counts bytes. For 8-bit schemes each rank quantizes its
bucket (:func:`~course_utils.parallel.compression.quantize_8bit`), the uint8 codes and
the float32 scale are **all-gathered** (codes cannot be summed), and every rank
decompresses all ranks' messages and averages them. For "1bit" the same happens with
the packed sign bits and two means, and the quantization error is fed back into the
next step's bucket (:class:`~course_utils.parallel.compression.OneBitErrorFeedback`).

``state.payload_bytes`` counts the bytes each rank hands to the collective per call;
:meth:`HookState.wire_bytes` converts that into bytes each rank sends on the wire
(ring all-reduce: 2(p-1)/p times the payload; all-gather: (p-1) times the payload).
"""


from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ..validate import check_choice
from .compression import (
    EIGHT_BIT_SCHEMES,
    OneBitErrorFeedback,
    dequantize_8bit,
    onebit_dequantize,
    onebit_quantize,
    quantize_8bit,
)

__all__ = ["HOOK_SCHEMES", "HookState", "compressed_allreduce_hook"]

HOOK_SCHEMES = ("fp32", "fp16", *EIGHT_BIT_SCHEMES, "1bit")


@dataclass
class HookState:
    """What the hook needs between calls: the scheme, the 1-bit residuals, byte counts."""

    scheme: str = "fp32"
    payload_bytes: int = 0
    calls: int = 0
    feedback: OneBitErrorFeedback = field(default_factory=OneBitErrorFeedback)

    def __post_init__(self) -> None:
        check_choice("scheme", self.scheme, HOOK_SCHEMES)

    def wire_bytes(self, world_size: int) -> float:
        """Bytes each rank sent on the wire so far (ring all-reduce or ring all-gather)."""
        p = world_size
        factor = 2 * (p - 1) / p if self.scheme in ("fp32", "fp16") else p - 1
        return factor * self.payload_bytes


def _float_bytes(values: list[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device).view(torch.uint8)


def _encode(state: HookState, grad: torch.Tensor, key: int) -> torch.Tensor:
    """One rank's message for a flat float32 bucket, as a uint8 tensor."""
    if state.scheme == "1bit":
        residual = state.feedback.residuals.get(key)
        usable = residual is not None and residual.shape == grad.shape
        corrected = grad + residual if usable else grad
        packed, pos_mean, neg_mean = onebit_quantize(corrected)
        sent = onebit_dequantize(packed, pos_mean, neg_mean, grad.numel()).to(grad.dtype)
        state.feedback.residuals[key] = corrected - sent
        return torch.cat([_float_bytes([pos_mean, neg_mean], grad.device), packed])
    codes, scale = quantize_8bit(grad, state.scheme)
    return torch.cat([_float_bytes([scale], grad.device), codes])


def _decode(state: HookState, message: torch.Tensor, n: int) -> torch.Tensor:
    if state.scheme == "1bit":
        pos_mean, neg_mean = message[:8].view(torch.float32).tolist()
        return onebit_dequantize(message[8:], pos_mean, neg_mean, n).to(torch.float32)
    scale = float(message[:4].view(torch.float32).item())
    return dequantize_8bit(message[4:], scale, state.scheme, dtype=torch.float32)


def compressed_allreduce_hook(
    state: HookState, bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """DDP comm hook: average the bucket's gradients across ranks using ``state.scheme``."""
    grad = bucket.buffer()
    world = dist.get_world_size()
    state.calls += 1
    if state.scheme in ("fp32", "fp16"):
        tensor = grad if state.scheme == "fp32" else grad.to(torch.float16)
        state.payload_bytes += tensor.numel() * tensor.element_size()
        fut = dist.all_reduce(tensor, async_op=True).get_future()

        def average(fut: torch.futures.Future) -> torch.Tensor:
            grad.copy_(fut.value()[0].to(grad.dtype) / world)
            return grad

        return fut.then(average)

    flat = grad.reshape(-1).to(torch.float32)
    message = _encode(state, flat, bucket.index())
    state.payload_bytes += message.numel()
    gathered = [torch.empty_like(message) for _ in range(world)]
    fut = dist.all_gather(gathered, message, async_op=True).get_future()

    def decode_and_average(fut: torch.futures.Future) -> torch.Tensor:
        total = sum(_decode(state, m, flat.numel()) for m in gathered)
        grad.copy_((total / world).reshape(grad.shape).to(grad.dtype))
        return grad

    return fut.then(decode_and_average)
