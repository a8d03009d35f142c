"""Load a trained adapter back with PEFT and generate with it. Worker-side code."""

from __future__ import annotations

from typing import Any


def adapter_load(*, path: str, base_model: str, method: str) -> tuple[Any, Any]:
    """(model, tokenizer) for an adapter folder; a full fine-tune is a whole model folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if method == "full":
        return AutoModelForCausalLM.from_pretrained(path), tokenizer
    from peft import PeftModel

    base = AutoModelForCausalLM.from_pretrained(base_model)
    return PeftModel.from_pretrained(base, path), tokenizer


def adapter_generate(
    *, path: str, base_model: str, method: str, messages: list[dict], max_new_tokens: int = 32
) -> str:
    import torch

    model, tokenizer = adapter_load(path=path, base_model=base_model, method=method)
    model.eval()
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
