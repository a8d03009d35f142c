"""Generation with switched adapters, and the closed loop: SFT -> reward -> PPO -> generate ->
ranking tasks for the labelers."""

from __future__ import annotations

import pytest

from labeling.models import Completion, Task
from labeling.services import prompt_bulk_create
from training.generate_job import ERROR_SNAPSHOT_KIND, GenerateError, Sampling
from training.models import Adapter, JobStatus
from training.testing import SAMPLE_ROWS, snapshot_write

from .rl_helpers import preference_snapshot, run
from .test_ppo import chain, ppo_job  # noqa: F401  (the chain fixture)

pytestmark = [pytest.mark.training, pytest.mark.django_db(transaction=True)]


def labeled_prompts_snapshot(project, n=3):
    prompts = prompt_bulk_create(
        project=project,
        prompts=[
            {"messages": [{"role": "user", "content": r["q"]}], "task_type": r["task_type"]}
            for r in SAMPLE_ROWS[:n]
        ],
    )
    rows = [
        {"prompt": p.messages, "task_type": p.task_type, "id": str(p.pk), "prompt_id": p.pk}
        for p in prompts
    ]
    return snapshot_write(project=project, train=rows, name="Labeled prompts", kind="prompts")


def test_closed_loop_puts_a_new_policys_outputs_in_front_of_labelers(
    project,
    owner,
    tiny_model,
    chain,  # noqa: F811
):
    from training.generate_job import completions_generate

    policy, _reward = chain
    ppo = run(ppo_job(project, owner, tiny_model, chain, max_steps=2))
    assert ppo.status == JobStatus.SUCCEEDED
    new_policy = Adapter.objects.get(job=ppo)
    snapshot = labeled_prompts_snapshot(project)
    result = completions_generate(
        snapshot=snapshot,
        adapters=[policy, new_policy],
        include_base=True,
        k=2,
        sampling=Sampling(max_new_tokens=6, temperature=1.0),
        create_ranking_tasks=True,
    )
    sources = [f"adapter-{policy.pk}", f"adapter-{new_policy.pk}", "base"]
    assert {k: result[k] for k in ("completions", "tasks", "sources", "per_source")} == {
        "completions": 3 * 3 * 2,
        "tasks": 3,
        "sources": sources,
        "per_source": dict.fromkeys(sources, 3 * 2),
    }
    by_adapter = {c.meta["adapter_id"] for c in Completion.objects.filter(prompt__project=project)}
    assert by_adapter == {policy.pk, new_policy.pk, None}
    assert Completion.objects.filter(model_name=new_policy.name).count() == 6
    tasks = Task.objects.filter(project=project, kind="ranking")
    assert tasks.count() == 3
    assert all(t.source["adapters"] == [policy.pk, new_policy.pk] for t in tasks)


def test_adapters_switch_on_one_loaded_base_and_answer_differently(
    project,
    owner,
    tiny_model,
    chain,  # noqa: F811
    monkeypatch,
):
    from transformers import AutoModelForCausalLM

    from training.generate_job import AdapterSwitcher

    policy, _reward = chain
    ppo = run(ppo_job(project, owner, tiny_model, chain, max_steps=2, learning_rate=5e-2))
    loads = []
    original = AutoModelForCausalLM.from_pretrained

    def counted(*args, **kwargs):
        loads.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", counted)
    names = {"sft": policy.path, "ppo": Adapter.objects.get(job=ppo).path}
    switcher = AdapterSwitcher(tiny_model, names)
    greedy = Sampling(max_new_tokens=8, temperature=0)
    messages = [{"role": "user", "content": "What is two plus two?"}]
    outputs = {
        name: switcher.generate(name, messages, k=1, sampling=greedy)[0]
        for name in ("sft", "ppo", "base")
    }
    assert loads == [tiny_model]  # the base, once
    assert set(switcher.model.peft_config) == {"sft", "ppo"}
    assert len(set(outputs.values())) == 3, outputs
    # Switching back gives the same answer again: the adapters did not mix.
    assert switcher.generate("sft", messages, k=1, sampling=greedy)[0] == outputs["sft"]


def test_generation_needs_a_prompts_snapshot(project):
    from training.generate_job import completions_generate

    snapshot = preference_snapshot(project)
    with pytest.raises(GenerateError) as exc:
        completions_generate(snapshot=snapshot, adapters=[], include_base=True, base_model="/m")
    assert str(exc.value) == ERROR_SNAPSHOT_KIND.format(kind="preference")
