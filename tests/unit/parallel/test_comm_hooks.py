"""course_utils.parallel.comm_hooks: the paper's compressed scatter/gather exchange on
real gloo processes, against a one-process computation."""

from __future__ import annotations

import pytest
import torch

from course_utils.core.launchers import run_local


def _two_phase_worker(rank, world_size, grads, scheme, steps):
    from course_utils.parallel.comm_hooks import HookState, _scatter_gather_compressed

    state = HookState(scheme=scheme)
    out = [_scatter_gather_compressed(state, grads[rank], world_size, key=0) for _ in range(steps)]
    return out, state.payload_bytes, state.wire_bytes(world_size)


def _two_phase_reference(grads, scheme):
    """The paper's scatter/gather with 8-bit messages, computed in one process."""
    from course_utils.parallel.compression import dequantize_8bit, quantize_8bit

    def roundtrip(x):
        codes, scale = quantize_8bit(x, scheme)
        return dequantize_8bit(codes, scale, scheme, dtype=torch.float32)

    p, n = grads.shape
    shard = -(-n // p)
    padded = torch.zeros(p, p * shard)
    padded[:, :n] = grads
    pieces = padded.view(p, p, shard)  # [rank, shard index, value]
    averages = [sum(roundtrip(pieces[r, j]) for r in range(p)) / p for j in range(p)]
    return torch.cat([roundtrip(a) for a in averages])[:n]


@pytest.mark.parametrize("world_size, n", [(2, 10), (3, 10)])
def test_two_phase_8bit_exchange_is_the_papers_scheme(world_size, n):
    """Real gloo processes: every rank ends with the same average, equal to the one-process
    computation of scatter (compressed shards) then gather (compressed averages), and
    close to the true mean; each rank sends 2(p-1)/p of its 8-bit bucket."""
    grads = torch.randn(world_size, n, generator=torch.Generator().manual_seed(world_size))
    results = run_local(_two_phase_worker, (grads, "dynamic_tree", 1), nprocs=world_size,
                        process_group="gloo")
    expected = _two_phase_reference(grads, "dynamic_tree")
    shard = -(-n // world_size)
    for out, payload, wire in results:
        assert torch.equal(out[0], expected)
        assert payload == world_size * (shard + 4)  # p shards: 1 byte per value + a scale
        assert wire == pytest.approx(2 * (world_size - 1) / world_size * payload)
    torch.testing.assert_close(expected, grads.mean(0), rtol=0, atol=0.05 * grads.abs().max())


def test_two_phase_1bit_feedback_averages_out_over_steps():
    """1-bit with error feedback in both phases: the mean of many steps' results
    approaches the true average (what is lost in one step is sent in later ones)."""
    grads = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    out, _, _ = run_local(_two_phase_worker, (grads, "1bit", 200), nprocs=2,
                          process_group="gloo")[0]
    one_step = (out[0] - grads.mean(0)).abs().max()
    many_steps = (torch.stack(out).mean(0) - grads.mean(0)).abs().max()
    assert many_steps < one_step / 10


def test_hook_state_checks_the_scheme_and_counts_wire_bytes():
    from course_utils.parallel.comm_hooks import HOOK_SCHEMES, HookState

    assert HOOK_SCHEMES[0] == "fp32" and "1bit" in HOOK_SCHEMES
    state = HookState(scheme="dynamic_tree", payload_bytes=1000)
    assert state.wire_bytes(4) == pytest.approx(1500.0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        HookState(scheme="4bit")
