"""num_local_tokens as a one-element int32 tensor: the golden model, kernels.run, Case and fixtures."""
import json

import numpy as np
import pytest
import torch

import kernels
import oracle
from cases import Case
from fuzz.judge import case_kwargs
from regressions.fixtures import Fixture, load, save

E, K, T = 16, 3, 20


def _inputs():
    ids, w, mask, _ = Case(E, K, T, mask_mode="ratio", seed=5).materialize()
    return ids, w, mask


@pytest.mark.parametrize("as_tensor", [lambda m: np.array([m], np.int32), lambda m: torch.tensor([m], dtype=torch.int32),
                                       lambda m: torch.tensor(m, dtype=torch.int32)],
                         ids=["numpy", "torch", "torch-0d"])
@pytest.mark.parametrize("m", [0, 7, T])
def test_a_tensor_m_is_the_int_m(as_tensor, m):
    ids, w, mask = _inputs()
    expected = oracle.moe_sorting(ids, w, E, 32, mask, m)
    from_tensor = oracle.moe_sorting(ids, w, E, 32, mask, as_tensor(m))
    assert oracle.compare(expected, from_tensor).ok and from_tensor.num_valid_ids[1] == m
    result = kernels.run("torch-cpu", ids, w, E, 32, mask, as_tensor(m))
    assert oracle.compare(expected, result).ok


@pytest.mark.parametrize("bad, words", [
    (np.array([3], np.int64), ["num_local_tokens", "int64", "int32"]),
    (torch.tensor([3.0]), ["num_local_tokens", "float32", "int32"]),
    (np.array([3, 4], np.int32), ["num_local_tokens", "one element", "(2,)"]),
    (np.zeros(0, np.int32), ["num_local_tokens", "one element", "(0,)"]),
    (np.array([T + 1], np.int32), ["num_local_tokens", str(T + 1), f"[0, {T}]"]),
    (torch.tensor([-2], dtype=torch.int32), ["num_local_tokens", "-2"]),
])
def test_a_bad_tensor_is_refused_naming_field_and_value(bad, words):
    ids, w, mask = _inputs()
    for call in (lambda: oracle.moe_sorting(ids, w, E, 32, mask, bad),
                 lambda: kernels.run("torch-cpu", ids, w, E, 32, mask, bad)):
        with pytest.raises(oracle.ContractViolation) as info:
            call()
        assert all(word in str(info.value) for word in words), str(info.value)


def test_the_suite_kernels_refuse_a_bad_tensor_naming_it():
    pytest.importorskip("flydsl", reason="the suite's kernels need the flydsl package")
    from kernels.moesort import allocate_outputs, moe_sorting

    ids, w, mask = _inputs()
    outs = allocate_outputs(T, K, E)
    for bad in (torch.tensor([3], dtype=torch.int64), torch.zeros(2, dtype=torch.int32)):
        with pytest.raises(ValueError, match="num_local_tokens must be a one-element int32 tensor"):
            moe_sorting(torch.from_numpy(ids), torch.from_numpy(w), *outs, E, 32, None, bad)
    with pytest.raises(ValueError, match=f"num_local_tokens={T + 1} outside"):
        moe_sorting(torch.from_numpy(ids), torch.from_numpy(w), *outs, E, 32, None, T + 1)


def test_case_passes_m_as_a_tensor_when_asked():
    case = Case(E, K, T, num_local_tokens=9, local_tokens_on_device=True, seed=2)
    assert "Mdev" in case.name and Case.from_dict(json.loads(case.to_json())) == case
    kw = case_kwargs(case)
    assert isinstance(kw["num_local_tokens"], np.ndarray) and kw["num_local_tokens"].tolist() == [9]
    assert case_kwargs(Case(E, K, T, local_tokens_on_device=True)) ["num_local_tokens"].tolist() == [T]
    plain = Case(E, K, T, num_local_tokens=9, seed=2)
    assert case_kwargs(plain)["num_local_tokens"] == 9 and "local_tokens_on_device" not in plain.to_dict()


def test_fixture_keeps_m_on_device(tmp_path):
    ids, w, mask = _inputs()
    f = Fixture(name="dev", kind="failure", topk_ids=ids, topk_weights=w, num_experts=E, unit_size=32,
                expert_mask=mask, num_local_tokens=4, local_tokens_on_device=True)
    plain = Fixture(name="dev", kind="failure", topk_ids=ids, topk_weights=w, num_experts=E, unit_size=32,
                    expert_mask=mask, num_local_tokens=4)
    g = load(save(f, tmp_path))
    assert g.local_tokens_on_device and g.id == f.id != plain.id
    assert g.run_args()["num_local_tokens"].tolist() == [4] and plain.run_args()["num_local_tokens"] == 4
