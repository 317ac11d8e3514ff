"""DDP communication hooks that send compressed gradients and count the bytes they send.

Register one on a ``DistributedDataParallel`` model::

    state = HookState(scheme="dynamic_tree")
    ddp.register_comm_hook(state, compressed_allreduce_hook)

With ``scheme="fp32"`` the hook does what DDP does by default (all-reduce the bucket,
divide by the world size) but counts bytes; ``"fp16"`` all-reduces a float16 copy.

Compressed codes cannot be summed by an all-reduce, so 8-bit and 1-bit buckets take the
paper's two phases ("scatter raw, gather accumulated", Dettmers 2016, section 3.1):

1. **scatter**: each rank cuts its bucket into ``p`` equal shards, compresses each
   (its own scale) and sends shard ``j`` to rank ``j`` (one ``all_to_all``);
2. rank ``j`` decompresses the ``p`` copies of shard ``j``, averages them and
   compresses the average again;
3. **gather**: an ``all_gather`` of the compressed averages; every rank decompresses
   all ``p`` shards into the averaged bucket.

Each rank sends ``(p-1)/p`` of its compressed bucket in each phase, so on the wire it
sends ``2(p-1)/p`` times the compressed size, the same factor as a ring all-reduce of
the uncompressed bucket: compression saves the same share at any number of ranks.
For "1bit" the lost part of each message is fed back into the same message at the next
step (:class:`~course_utils.parallel.compression.OneBitErrorFeedback`, Seide et al. 2014),
in both phases.

``state.payload_bytes`` counts the size of each rank's (compressed) bucket per call;
:meth:`HookState.wire_bytes` converts that into bytes each rank sends on the wire.

Used in: :doc:`/notebooks/dp_compression`.
"""


from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from ..core.checks import check_choice
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
        """Bytes each rank sent on the wire so far: 2(p-1)/p of the payload, every scheme.

        fp32/fp16 take a ring all-reduce; the compressed schemes send (p-1)/p of their
        compressed bucket in the scatter and again in the gather phase.
        """
        p = world_size
        return 2 * (p - 1) / p * self.payload_bytes


def _float_bytes(values: list[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device).view(torch.uint8)


def _encode(state: HookState, grad: torch.Tensor, key: object) -> torch.Tensor:
    """One message (uint8) for flat float32 ``grad``; ``key`` names it for 1-bit feedback."""
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
    """The ``n`` float32 values of one message (its header is copied out: a view of bytes
    at an offset not divisible by 4 cannot be read as float32)."""
    if state.scheme == "1bit":
        pos_mean, neg_mean = message[:8].clone().view(torch.float32).tolist()
        return onebit_dequantize(message[8:], pos_mean, neg_mean, n).to(torch.float32)
    scale = float(message[:4].clone().view(torch.float32).item())
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
    averaged = _scatter_gather_compressed(state, flat, world, bucket.index())
    grad.copy_(averaged.reshape(grad.shape).to(grad.dtype))
    done: torch.futures.Future[torch.Tensor] = torch.futures.Future()
    done.set_result(grad)  # both phases ran here: no overlap with the backward pass
    return done


def _scatter_gather_compressed(
    state: HookState, flat: torch.Tensor, world: int, key: int
) -> torch.Tensor:
    """Average flat float32 ``flat`` over the ranks in two compressed phases (see above)."""
    n = flat.numel()
    shard = -(-n // world)  # ceil: the last shard is zero-padded
    padded = torch.zeros(world * shard, dtype=torch.float32, device=flat.device)
    padded[:n] = flat
    outgoing = torch.cat([_encode(state, piece, (key, "scatter", j))
                          for j, piece in enumerate(padded.view(world, shard))])
    state.payload_bytes += outgoing.numel()
    incoming = torch.empty_like(outgoing)
    dist.all_to_all_single(incoming, outgoing)  # shard j of every rank lands on rank j
    mine = sum(_decode(state, m, shard) for m in incoming.view(world, -1)) / world
    message = _encode(state, mine, (key, "gather"))
    gathered = [torch.empty_like(message) for _ in range(world)]
    dist.all_gather(gathered, message)
    return torch.cat([_decode(state, m, shard) for m in gathered])[:n]
