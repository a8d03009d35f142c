"""Background tasks for evaluation: ids in, a service call, nothing else."""

from __future__ import annotations

from django_tasks import task


@task(queue_name="default")
def eval_run_task(run_id: int) -> dict:
    from evaluation.services.runner import eval_run_execute
    from evaluation.services.runs import eval_run_reap_lost

    eval_run_reap_lost()  # runs an earlier worker left behind become resumable
    run = eval_run_execute(run_id=run_id)
    return {"run_id": run.pk, "status": run.status, "calls_made": run.calls_made}


@task(queue_name="gpu")
def candidates_generate_adapter_task(
    eval_set_id: int, adapter_id: int, model_name: str = "", max_new_tokens: int = 256
) -> dict:
    """Generation needs the model in memory: it runs on a GPU worker."""
    from evaluation.models import EvalSet
    from evaluation.services import candidates_generate_with_adapter

    eval_set = EvalSet.objects.get(pk=eval_set_id)
    written = candidates_generate_with_adapter(
        eval_set=eval_set,
        adapter_id=adapter_id,
        model_name=model_name,
        max_new_tokens=max_new_tokens,
    )
    return {"eval_set_id": eval_set_id, "adapter_id": adapter_id, "answers": written}


@task(queue_name="default")
def candidates_generate_llm_task(
    eval_set_id: int,
    model_name: str,
    base_url: str,
    model: str,
    api_key_env: str = "FLYWHEEL_LLM_API_KEY",
    temperature: float = 0.7,
    max_tokens: int = 1024,
    max_concurrency: int = 8,
) -> dict:
    """Answers from an OpenAI-compatible server; a failed question raises and is answered
    when the task runs again (answers already written are kept)."""
    from evaluation.models import EvalSet
    from evaluation.services import candidates_generate

    written = candidates_generate(
        eval_set=EvalSet.objects.get(pk=eval_set_id),
        model_name=model_name,
        base_url=base_url,
        model=model,
        api_key_env=api_key_env,
        temperature=temperature,
        max_tokens=max_tokens,
        max_concurrency=max_concurrency,
    )
    return {"eval_set_id": eval_set_id, "model_name": model_name, "answers": written}
