"""Which devices count as computing bfloat16 natively (mixed_precision="auto")."""

import torch

from sk_cnn.training import has_fast_bfloat16


def test_has_fast_bfloat16_reads_amx_too_and_knows_no_other_devices(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert has_fast_bfloat16(torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert not has_fast_bfloat16(torch.device("cpu"))
    assert not has_fast_bfloat16(torch.device("meta"))
