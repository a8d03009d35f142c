"""QLoRA in PPO, GRPO and RLOO: on a CUDA host the policy (and PPO's value and reward bases)
load in 4-bit through the SFT and reward loaders; on the CPU they stay in full precision.
No CUDA exists here, so these tests check the routing into the shared loaders, whose 4-bit
loading the SFT and reward tests already run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from training.config import peft_resolve
from training.rl_common import load_policy, quantize_on

QLORA = peft_resolve("qlora", {}, base_model="/m")
GPU = {"cuda": True, "bf16": True}
CPU = {"cuda": False, "bf16": False}


class Loaded(Exception):
    """Raised by the stand-in loaders with what they were given."""


def test_qlora_quantizes_only_on_a_gpu():
    assert quantize_on(QLORA, GPU) is QLORA
    assert quantize_on(QLORA, CPU) == {"method": "lora"}
    assert quantize_on(peft_resolve("lora", {}, base_model="/m"), GPU) == {"method": "lora"}


@pytest.mark.parametrize(("hardware", "method"), [(GPU, "qlora"), (CPU, "lora")])
def test_policy_base_goes_through_the_sft_loader(monkeypatch, hardware, method):
    import training.sft

    def fake_load_model(base_model, peft, hw):
        raise Loaded(base_model, peft["method"], peft.get("bnb_4bit_quant_type"))

    monkeypatch.setattr(training.sft, "load_model", fake_load_model)
    policy = SimpleNamespace(base_model="/models/policy", path="/adapters/policy")
    with pytest.raises(Loaded) as exc:
        load_policy(policy_adapter=policy, peft=QLORA, hardware=hardware)
    quant = "nf4" if method == "qlora" else None
    assert exc.value.args == ("/models/policy", method, quant)


def test_ppo_value_and_reward_bases_go_through_the_reward_loader(monkeypatch):
    import training.ppo
    import training.reward
    import training.rl_common

    calls = []

    class FakeModel:
        def __init__(self):
            self.config = SimpleNamespace(pad_token_id=0)

        def get_base_model(self):
            return self

    def fake_load_policy(*, policy_adapter, peft, hardware):
        calls.append(("policy", peft["method"]))
        return FakeModel()

    def fake_seq_cls(base_model, peft, hardware):
        calls.append(("seq_cls", peft["method"]))
        raise Loaded

    monkeypatch.setattr(training.rl_common, "load_policy", fake_load_policy)
    monkeypatch.setattr(training.reward, "load_seq_cls_model", fake_seq_cls)
    adapter = SimpleNamespace(base_model="/models/policy", path=str(Path("/adapters/x")))
    with pytest.raises(Loaded):
        training.ppo.load_ppo_models(
            policy_adapter=adapter, reward_adapter=adapter, hardware=GPU, peft=QLORA
        )
    assert calls == [("policy", "qlora"), ("seq_cls", "qlora")]
