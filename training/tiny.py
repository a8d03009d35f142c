"""A tiny Llama-architecture model with a tokenizer trained on the fly, for the demo, the tests
and the benchmark: there is no hub access, so everything is built locally from random weights.

Worker-side code: torch, transformers and tokenizers are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path

# Role markers are special tokens, as in real chat templates; only the assistant's turns are
# in the loss, so of the special tokens the loss channel measures `<|end|>`: it closes every
# turn, is the eos token and sits inside the generation markers so the model learns to stop.
BOS, EOS, PAD, UNK = "<s>", "<|end|>", "<pad>", "<unk>"
ROLE_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>"]

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|assistant|>\n{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}\n"
    "{% else %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

SIZES = {
    # name: (hidden, intermediate, layers, heads, kv heads, vocab)
    "tiny": (64, 128, 2, 4, 2, 600),
    "20m": (384, 1024, 6, 6, 2, 8000),
    # ~0.76B parameters: the GPU check's QLoRA-vs-LoRA memory figure (bench/gpu_check.py).
    "800m": (2048, 5632, 16, 16, 8, 8000),
}

_CORPUS = """
The quick brown fox jumps over the lazy dog. A helpful assistant answers the question asked.
Write a short poem about the sea. Summarize the paragraph in one sentence. What is two plus two?
Two plus two is four. The capital of France is Paris. Translate hello into Spanish: hola.
def add(a, b): return a + b. Explain recursion to a child. Once upon a time there was a robot.
Please list three fruits: apple, banana, cherry. The answer is 42. Thank you for asking!
"""


def corpus_lines(extra: list[str] | None = None) -> list[str]:
    lines = [line.strip() for line in _CORPUS.strip().splitlines()]
    return lines + list(extra or [])


def build_tokenizer(*, vocab_size: int, texts: list[str]):
    """A byte-level BPE tokenizer trained on `texts`, with bos/eos/pad and the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, UNK, BOS, EOS, *ROLE_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=ROLE_TOKENS,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    path: str | Path, *, size: str = "tiny", texts: list[str] | None = None, seed: int = 0
) -> Path:
    """Build a random-weight Llama model and its tokenizer and save both under `path`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, intermediate, layers, heads, kv_heads, vocab = SIZES[size]
    tokenizer = build_tokenizer(vocab_size=vocab, texts=corpus_lines(texts))
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
