"""Peak memory off CUDA, and TPME against hand-computed values."""

import pytest
import torch

from transrec.eval.efficiency import peak_memory_gb, reset_peak_memory, tpme


@pytest.mark.skipif(torch.cuda.is_available(), reason="CPU behaviour")
def test_peak_memory_is_none_without_cuda():
    reset_peak_memory()
    assert peak_memory_gb() is None


def test_tpme_hand_computed():
    rows = [
        {"seconds_per_epoch": 100.0, "trainable_parameters": 1_000, "peak_memory_gb": 10.0},
        {"seconds_per_epoch": 50.0, "trainable_parameters": 3_000, "peak_memory_gb": 30.0},
        {"seconds_per_epoch": 75.0, "trainable_parameters": 2_000, "peak_memory_gb": 20.0},
    ]
    # t_norm 1, 0, .5; p_norm 0, 1, .5; m_norm 0, 1, .5
    assert tpme(rows) == pytest.approx([0.45, 0.55, 0.5])


def test_tpme_measure_equal_everywhere_adds_nothing():
    rows = [
        {"seconds_per_epoch": 10.0, "trainable_parameters": 5, "peak_memory_gb": 2.0},
        {"seconds_per_epoch": 20.0, "trainable_parameters": 5, "peak_memory_gb": 2.0},
    ]
    assert tpme(rows) == pytest.approx([0.0, 0.45])
    assert tpme(rows[:1]) == [0.0]


def test_tpme_memory_missing_everywhere_is_left_out_but_partly_missing_raises():
    rows = [
        {"seconds_per_epoch": 10.0, "trainable_parameters": 1, "peak_memory_gb": None},
        {"seconds_per_epoch": 20.0, "trainable_parameters": 3, "peak_memory_gb": None},
    ]
    assert tpme(rows) == pytest.approx([0.0, 0.55])
    rows[0]["peak_memory_gb"] = 1.0
    with pytest.raises(ValueError, match="peak_memory_gb"):
        tpme(rows)
