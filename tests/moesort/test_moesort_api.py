"""Host-side checks of ``kernels.moesort.moe_sorting`` (no kernel runs: every
case here is refused before a launch) and of ``allocate_outputs``'s sizes."""
import pytest
import torch

import oracle
from kernels.moesort import allocate_outputs, moe_sorting


@pytest.mark.parametrize("T,topk,E,unit", [(0, 1, 1, 16), (1, 9, 257, 32), (300, 9, 513, 256), (7, 255, 300, 16)])
def test_allocate_outputs_has_contract_sizes(T, topk, E, unit):
    ids, w, blocks, nvalid, moe_buf = allocate_outputs(T, topk, E, unit)
    length = oracle.max_num_tokens_padded(T, topk, E, unit)
    assert ids.shape == (length,) and ids.dtype == torch.int32
    assert w.shape == (length,) and w.dtype == torch.float32
    assert blocks.shape == (-(-length // unit),) and blocks.dtype == torch.int32
    assert nvalid.shape == (2,) and nvalid.dtype == torch.int32
    assert moe_buf.shape == (T, 8)


def _args(T=4, topk=2, E=8, unit=32):
    ids = torch.zeros(T, topk, dtype=torch.int32)
    ids[:, 1] = 1
    return ids, torch.ones(T, topk), *allocate_outputs(T, topk, E, unit)


@pytest.mark.parametrize("mutate,match", [
    (lambda a: a.__setitem__(0, a[0].long()), "int32"),
    (lambda a: a.__setitem__(1, a[1].double()), "float32"),
    (lambda a: a.__setitem__(2, a[2][:-1]), "too small"),
    (lambda a: a.__setitem__(3, a[3].to(torch.bfloat16)), "sorted_weights"),
    (lambda a: a.__setitem__(5, a[5][:1]), "too small"),
    (lambda a: a.__setitem__(0, a[0].t()), "topk_ids and topk_weights"),
])
def test_bad_arguments_are_refused(mutate, match):
    a = list(_args())
    mutate(a)
    with pytest.raises(ValueError, match=match):
        moe_sorting(*a, 8, 32, target="gfx950")


def test_bad_scalars_are_refused():
    a = _args()
    with pytest.raises(ValueError, match="num_local_tokens"):
        moe_sorting(*a, 8, 32, None, 5, target="gfx950")
    with pytest.raises(ValueError, match="target"):
        moe_sorting(*a, 8, 32, target="gfx90a")
    with pytest.raises(ValueError, match="expert_mask"):
        moe_sorting(*a, 8, 32, torch.ones(7, dtype=torch.int32), target="gfx950")


@pytest.mark.parametrize("T,path", [(5, "small"), (700, "medium"), (2100, "large")])
def test_backend_hands_the_kernels_a_poisoned_workspace(monkeypatch, T, path):
    """A kernel that skips clearing part of its workspace must see stale marks, not zeros."""
    import kernels.moesort.api as api
    from cases import Case
    from kernels import run
    from kernels.harness import WORKSPACE_POISON_BYTE

    seen = {}

    def spy(*args, **kw):
        ws = args[11] if len(args) > 11 else kw.get("workspace")
        seen["ws"] = None if ws is None else ws.clone()
        return api.choose_path(T, 16, 4, 32, kw["target"])

    monkeypatch.setattr(api, "moe_sorting", spy)
    ids, w, _, _ = Case(16, 4, T, seed=1).materialize()
    result = run("flydsl-own", ids, w, 16, 32, target="gfx942")   # the spy writes no outputs: poison comes back
    assert result.path == path
    if path == "small":
        assert seen["ws"] is None
    else:
        assert seen["ws"].numel() >= api.workspace_size(T, 16, 4, 32, "gfx942")
        assert bool((seen["ws"].view(torch.uint8) == WORKSPACE_POISON_BYTE).all())


def test_every_buffer_the_kernels_accept_lies_below_the_strict_masking_floor():
    """The ``flydsl-own`` backend runs these kernels with ``strict_buffers``: that is sound only
    while every buffer they accept is smaller than the sanitizer's masking floor and their
    masked-off offset (``OOB_INDEX * 4``, for 1-, 4- and 16-byte accesses) is at or past it."""
    from kernels.emu import MASKED_OFFSET_FLOOR
    from kernels.moesort.api import MAX_BUFFER_BYTES
    from kernels.moesort.dsl import OOB_INDEX

    assert MAX_BUFFER_BYTES <= MASKED_OFFSET_FLOOR <= OOB_INDEX * 4 < 1 << 32
