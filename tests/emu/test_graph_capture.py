"""Graph capture on the interpreter: host reads refused with their line, launches replayed."""
import inspect

import numpy as np
import pytest
import torch

import kernels.emu as emu
from tests.emu import sample_kernels as K

pytestmark = pytest.mark.interpreter

CAPACITY = 600


# Planted entry points: each reads the element count on the host in one way
# (the line marked `# READ`), then launches the vector add over that many elements.
def entry_item(a, b, c, count):
    n = count.item()  # READ
    K.launch_vadd(a, b, c, n)


def entry_tolist(a, b, c, count):
    n = count.tolist()[0]  # READ
    K.launch_vadd(a, b, c, n)


def entry_cpu(a, b, c, count):
    n = int(count.cpu().numpy()[0])  # READ
    K.launch_vadd(a, b, c, n)


def entry_numpy(a, b, c, count):
    n = int(count.numpy()[0])  # READ
    K.launch_vadd(a, b, c, n)


def entry_int(a, b, c, count):
    n = int(count)  # READ
    K.launch_vadd(a, b, c, n)


def entry_float(a, b, c, count):
    n = round(float(count))  # READ
    K.launch_vadd(a, b, c, n)


def entry_bool(a, b, c, count):
    if bool(count):  # READ
        K.launch_vadd(a, b, c, CAPACITY)


def entry_index_to_scalar(a, b, c, count):
    if count[0] > 0:  # READ
        K.launch_vadd(a, b, c, CAPACITY)


def entry_index_use(a, b, c, count):
    n = list(range(CAPACITY + 1))[count[0]]  # READ
    K.launch_vadd(a, b, c, n)


def entry_asarray(a, b, c, count):
    n = int(np.asarray(count)[0])  # READ
    K.launch_vadd(a, b, c, n)


def entry_on_device(a, b, c, count):
    K.launch_vadd_counted(a, b, c, count, CAPACITY)


HOST_READ_ENTRIES = {
    entry_item: ".item()", entry_tolist: ".tolist()", entry_cpu: ".cpu()", entry_numpy: ".numpy()",
    entry_int: "int()", entry_float: "float()", entry_bool: "bool()", entry_index_to_scalar: "bool()",
    entry_index_use: "__index__", entry_asarray: "np.asarray()",
}


def _read_line(entry) -> str:
    """``file:line`` of the line marked ``# READ`` in ``entry``'s source."""
    lines, first = inspect.getsourcelines(entry)
    offset = next(i for i, text in enumerate(lines) if text.rstrip().endswith("# READ"))
    return f"{inspect.getsourcefile(entry)}:{first + offset}"


def _tensors(n):
    torch.manual_seed(0)
    a, b = torch.randn(CAPACITY), torch.randn(CAPACITY)
    return a, b, torch.zeros(CAPACITY), torch.tensor([n], dtype=torch.int32)


@pytest.mark.parametrize("entry", list(HOST_READ_ENTRIES), ids=lambda f: f.__name__)
def test_each_host_read_is_refused_naming_its_line(entry):
    a, b, c, count = _tensors(100)
    with emu.capture_graph() as graph, emu.emulate("gfx950"):
        with pytest.raises(emu.HostSyncError) as err:
            entry(a, b, c, count)
    assert err.value.loc == _read_line(entry)
    assert HOST_READ_ENTRIES[entry] in str(err.value) and "# READ" in err.value.source
    assert graph.launches == []
    assert count.item() == 100          # the capture is over: host reads work again


@pytest.mark.parametrize("entry", list(HOST_READ_ENTRIES), ids=lambda f: f.__name__)
def test_the_same_entries_run_outside_a_capture(entry):
    a, b, c, count = _tensors(CAPACITY)
    with emu.emulate("gfx950"):
        entry(a, b, c, count)
    assert torch.equal(c, a + b)


def test_capture_records_launches_and_replay_reads_current_contents():
    a, b, c, count = _tensors(100)
    with emu.capture_graph() as graph, emu.emulate("gfx942"):
        entry_on_device(a, b, c, count)
    assert [(rec.host_name, rec.target) for rec in graph.launches] == [(graph.launches[0].host_name, "gfx942")]
    assert not c.any()                  # recorded, not run
    for n in (100, 37, CAPACITY, 0, 257):
        c.zero_()
        count.fill_(n)
        a.add_(1.0)                     # inputs change between replays too
        graph.replay()
        assert torch.equal(c[:n], a[:n] + b[:n]) and not c[n:].any()


def test_a_scalar_frozen_at_capture_stays_frozen():
    """A host value passed as a scalar is baked into the graph, as on a GPU."""
    a, b, c, count = _tensors(100)
    n_at_capture = 100
    with emu.capture_graph() as graph, emu.emulate("gfx950"):
        K.launch_vadd(a, b, c, n_at_capture)
    count.fill_(300)
    graph.replay()
    assert torch.equal(c[:100], a[:100] + b[:100]) and not c[100:].any()


def test_replay_needs_the_capture_to_have_ended():
    a, b, c, count = _tensors(10)
    with emu.capture_graph() as graph, emu.emulate("gfx950"):
        entry_on_device(a, b, c, count)
        with pytest.raises(RuntimeError, match="has not ended"):
            graph.replay()
