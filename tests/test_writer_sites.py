"""Which kernel store wrote an output element: recorded per element on the interpreter,
named as text only when a wrong output needs it."""
from __future__ import annotations

import kernels
from cases import Case
from kernels import harness


def test_every_sorted_id_names_its_store_and_the_text_is_made_on_first_access(monkeypatch):
    made = []
    text_of = harness._site_text
    monkeypatch.setattr(harness, "_site_text", lambda site: made.append(site) or text_of(site))
    ids, w, mask, local = Case(8, 2, 40, seed=5).materialize()
    result = kernels.run("flydsl-own", ids, w, 8, 32, mask, local, target="gfx950")
    writers = result.written_by["sorted_ids"]
    assert writers.shape == result.sorted_ids.shape
    writers = writers[:int(result.num_valid_ids[0])]          # the padded length; the tail is unspecified
    assert writers.size and (writers >= 0).all()
    assert made == []                                   # a right answer never reads kernel sources
    sid = int(writers[0])
    text = result.writer_sites[sid]
    assert text.split(" at ", 1)[0].startswith("moesort") and ".py:" in text, text
    assert result.writer_sites[sid] == text and len(made) == 1      # made once, then kept
    assert set(result.writer_sites) >= {int(s) for s in writers}
