"""The pipeline's stages stored through the services: import (audit of filtered prompts,
rejects with line numbers, re-import adds nothing), restore, filter, tag, synthesize, tasks."""

import json

import pytest

from flywheel.testing.openai_server import Reply
from labeling.models import (
    Completion,
    PipelineRun,
    PipelineStage,
    PipelineStatus,
    Prompt,
    PromptStatus,
    Task,
)
from labeling.services.pipeline import (
    ERROR_FORMAT,
    ERROR_LIMIT,
    ERROR_NOTHING_TO_SYNTHESIZE,
    PipelineRunError,
    import_run_start,
    pipeline_run_execute,
    prompts_filter,
    prompts_synthesize,
    prompts_tag,
    tasks_create_from_prompts,
)
from labeling.services.prompts import (
    ERROR_NOT_FILTERED,
    ERROR_STATUS,
    PromptError,
    prompt_bulk_create,
    prompt_content_hash,
    prompt_restore,
)

pytestmark = pytest.mark.django_db


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_import(project, path, **options):
    run = import_run_start(project=project, path=path, enqueue=False, **options)
    return pipeline_run_execute(run=run)


# -- the prompts service ----------------------------------------------------------------------


def test_content_hash_is_normalized_so_case_and_spacing_variants_are_one_prompt(project):
    first = prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": "What is  DNS?"}]}]
    )
    again = prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": " what is dns? "}]}]
    )
    assert again[0].pk == first[0].pk
    assert Prompt.objects.filter(project=project).count() == 1
    assert prompt_content_hash(
        messages=[{"role": "user", "content": "\uff21\uff22\uff23"}]
    ) == prompt_content_hash(messages=[{"role": "user", "content": "abc"}])


def test_tool_messages_are_kept_for_function_calling(project):
    call = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [
                    {"role": "user", "content": "Weather in Oslo?"},
                    {"role": "assistant", "content": "", "tool_calls": call},
                    {"role": "tool", "content": '{"temp": 3}', "tool_call_id": "c1"},
                    {"role": "user", "content": "And tomorrow?"},
                ]
            }
        ],
    )
    prompt.refresh_from_db()
    assert [m["role"] for m in prompt.messages] == ["user", "assistant", "tool", "user"]
    assert prompt.messages[1]["tool_calls"] == call
    assert prompt.messages[2]["tool_call_id"] == "c1"


def test_filtered_prompt_is_stored_with_reasons_and_can_be_restored(project, owner):
    reasons = [{"filter": "length", "code": "too_short", "detail": "3 characters"}]
    (prompt,) = prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": "hey"}],
                "status": "filtered",
                "filter_reasons": reasons,
            }
        ],
    )
    prompt.refresh_from_db()
    assert prompt.status == PromptStatus.FILTERED
    assert prompt.filter_reasons == reasons
    restored = prompt_restore(prompt=prompt, user=owner)
    restored.refresh_from_db()
    assert restored.status == PromptStatus.ACTIVE
    assert restored.filter_reasons == reasons  # the audit stays
    assert restored.meta["restored"]["by"] == owner.username
    with pytest.raises(PromptError) as error:
        prompt_restore(prompt=restored, user=owner)
    assert str(error.value) == ERROR_NOT_FILTERED.format(id=prompt.pk)


def test_filtered_without_reasons_is_refused(project):
    with pytest.raises(PromptError) as error:
        prompt_bulk_create(
            project=project,
            prompts=[{"messages": [{"role": "user", "content": "x"}], "status": "filtered"}],
        )
    assert str(error.value) == ERROR_STATUS.format(index=0)
    assert not Prompt.objects.exists()


# -- import ------------------------------------------------------------------------------------


def test_import_keeps_filtered_prompts_with_reasons_and_redacts_pii(project, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"prompt": "How do I write a Python function that reverses a string?"},
            {"prompt": "hi"},
            {"prompt": "Mail me at jane.doe@example.com about the quarterly report, please."},
            {"prompt": "How do I write a python function that reverses a string?!"},
        ],
    )
    run = run_import(project, path)
    assert run.status == PipelineStatus.SUCCEEDED
    assert run.done == run.total == 4
    prompts = {p.messages[-1]["content"]: p for p in Prompt.objects.filter(project=project)}
    assert len(prompts) == 4  # nothing deleted
    short = prompts["hi"]
    assert short.status == PromptStatus.FILTERED
    assert short.filter_reasons[0]["code"] == "too_short"
    redacted = next(p for text, p in prompts.items() if "report" in text)
    assert "jane.doe@example.com" not in redacted.messages[-1]["content"]
    assert redacted.meta["pii"] == {"email": 1}
    assert redacted.status == PromptStatus.ACTIVE
    near = prompts["How do I write a python function that reverses a string?!"]
    assert near.status == PromptStatus.FILTERED
    assert near.filter_reasons[0]["filter"] in {"exact_duplicate", "near_duplicate"}
    assert run.counts["kept"] == 2 and run.counts["filtered"] == 2
    assert run.funnel["total"] == 4 and run.funnel["kept"] == 2
    code = prompts["How do I write a Python function that reverses a string?"]
    assert code.task_type == "code"  # project labels are qa, code


def test_import_redacts_pii_in_a_log_rows_extra_columns_and_counts_it(project, tmp_path):
    path = write_jsonl(
        tmp_path / "logs.jsonl",
        [
            {
                "timestamp": "2024-05-01T10:00:00Z",
                "user_id": "u-17",
                "prompt": "How do I renew a passport that expired last year?",
                "client_ip": "203.0.113.42",
                "user_email": "sam.lee@example.org",
                "session": {"referrer": "mailto:ops@example.net", "tags": ["web", "10.1.2.3"]},
                "app_version": "2024-05-01",
            }
        ],
    )
    run = run_import(project, path, format="logs")
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    prompt = Prompt.objects.get(project=project)
    stored = json.dumps(prompt.meta)
    for value in ("203.0.113.42", "sam.lee@example.org", "ops@example.net", "10.1.2.3"):
        assert value not in stored
    assert prompt.meta["client_ip"] == "[IP_ADDRESS]"
    assert prompt.meta["user_email"] == "[EMAIL]"
    assert prompt.meta["session"] == {"referrer": "mailto:[EMAIL]", "tags": ["web", "[IP_ADDRESS]"]}
    assert prompt.meta["user_id"] == "u-17"  # look-alikes stay as they are
    assert prompt.meta["app_version"] == "2024-05-01"
    assert prompt.meta["pii"] == {"ip_address": 2, "email": 2}
    assert run.funnel["pii"] == {"ip_address": 2, "email": 2}
    assert run.funnel["prompts_with_pii"] == 1


def test_import_redacts_pii_in_mt_bench_follow_up_turns_and_references(project, tmp_path):
    path = write_jsonl(
        tmp_path / "question.jsonl",
        [
            {
                "question_id": 81,
                "category": "writing",
                "turns": [
                    "Compose a short travel blog post about a trip to Hawaii.",
                    "Rewrite it as a letter to jo.smith@example.com in the second person.",
                ],
                "reference": ["Call +1 415 555 0199 to book.", "Dear Jo"],
            }
        ],
    )
    run = run_import(project, path)
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    prompt = Prompt.objects.get(project=project)
    assert prompt.meta["followup_turns"] == [
        "Rewrite it as a letter to [EMAIL] in the second person."
    ]
    assert prompt.meta["references"] == ["Call [PHONE] to book.", "Dear Jo"]
    assert prompt.meta["reference"] == "Call [PHONE] to book."
    assert prompt.meta["pii"] == {"email": 1, "phone": 2}
    assert run.funnel["pii"] == {"email": 1, "phone": 2}


def test_import_is_all_or_nothing_and_reports_bad_lines(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "A good question about the tides?"}\nnot json\n{"nope": 1}\n')
    run = run_import(project, path)
    assert run.status == PipelineStatus.FAILED
    assert [r["line"] for r in run.rejects] == [2, 3]
    assert "2 bad row(s); nothing was imported" in run.error
    assert not Prompt.objects.exists()

    run = run_import(project, path, skip_invalid=True)
    assert run.status == PipelineStatus.SUCCEEDED
    assert [r["line"] for r in run.rejects] == [2, 3]
    assert Prompt.objects.count() == 1


def test_reimport_adds_nothing(project, tmp_path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [{"prompt": "What is the tallest mountain in Africa?"}, {"prompt": "x"}],
    )
    run_import(project, path)
    assert Prompt.objects.count() == 2
    again = run_import(project, path)
    assert Prompt.objects.count() == 2
    assert again.counts["duplicates"] == 2
    assert again.counts.get("prompts", 0) == 0


def test_reimport_of_redacted_prompts_adds_nothing(project, tmp_path):
    path = write_jsonl(
        tmp_path / "pii.jsonl",
        [{"prompt": "Please write to jane.doe@example.com about the delayed shipment."}],
    )
    first = run_import(project, path)
    assert first.counts["prompts"] == 1
    again = run_import(project, path)
    assert again.counts["duplicates"] == 1
    assert again.counts["kept"] == again.counts["filtered"] == again.counts["prompts"] == 0
    assert Prompt.objects.count() == 1


def test_unknown_format_is_refused(project, tmp_path):
    with pytest.raises(PipelineRunError) as error:
        import_run_start(project=project, path=tmp_path, format="xml", enqueue=False)
    assert str(error.value).startswith(ERROR_FORMAT.format(format="xml", formats="")[:20])
    assert not PipelineRun.objects.exists()


def test_start_enqueues_on_commit(project, tmp_path, django_capture_on_commit_callbacks):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Is water wet, in physics terms?"}])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = import_run_start(project=project, path=path)
    assert run.status == PipelineStatus.QUEUED
    assert len(callbacks) == 1


# -- the other stages -------------------------------------------------------------------------


def seed(project, texts):
    return prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": t}]} for t in texts]
    )


def test_filter_stage_marks_blocklisted_prompts_filtered(project):
    bad, _good = seed(
        project, ["Tell me about the zorblax protocol in detail.", "What is the speed of light?"]
    )
    run = pipeline_run_execute(
        run=prompts_filter(project=project, filters={"blocklist": "zorblax"}, enqueue=False)
    )
    assert run.status == PipelineStatus.SUCCEEDED
    assert run.counts == {"seen": 2, "filtered": 1, "kept": 1}
    bad.refresh_from_db()
    assert bad.status == PromptStatus.FILTERED
    assert bad.filter_reasons[0]["filter"] == "blocklist"


def test_tag_with_llm_lists_disagreements_and_stays_in_labels(project, llm_server):
    seed(project, ["Write a Python function to sort a list.", "Who wrote Hamlet?"])
    llm_server.script(
        Reply(json.dumps({"task_type": "qa"})), Reply(json.dumps({"task_type": "qa"}))
    )
    run = pipeline_run_execute(
        run=prompts_tag(
            project=project, llm_model="scripted", llm_base_url=llm_server.base_url, enqueue=False
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["llm"] == 2
    assert [d["rule"] for d in run.disagreements] == ["code"]
    assert run.disagreements[0]["llm"] == "qa"
    assert run.prompt_tokens > 0
    assert set(Prompt.objects.values_list("task_type", flat=True)) == {"qa"}


def test_tag_with_llm_after_import_retags_rule_tagged_prompts_and_keeps_the_files_types(
    project, llm_server, tmp_path
):
    path = write_jsonl(
        tmp_path / "prompts.jsonl",
        [
            {"prompt": "Write a Python function to sort a list."},
            {"prompt": "Hamlet's author, in one word"},
            {"prompt": "Reverse a linked list in place.", "task_type": "code"},
        ],
    )
    assert run_import(project, path).status == PipelineStatus.SUCCEEDED
    by_rules = Prompt.objects.get(messages__0__content__startswith="Hamlet")
    assert (by_rules.task_type, by_rules.meta["tagged_by"]) == ("qa", "rules")
    from_file = Prompt.objects.get(messages__0__content__startswith="Reverse")
    assert from_file.meta["tagged_by"] == "source"

    llm_server.script(
        Reply(json.dumps({"task_type": "qa"})), Reply(json.dumps({"task_type": "qa"}))
    )
    run = pipeline_run_execute(
        run=prompts_tag(
            project=project, llm_model="scripted", llm_base_url=llm_server.base_url, enqueue=False
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert len(llm_server.requests) == 2  # the two rule-tagged prompts, not the file's one
    assert run.counts["llm"] == 2
    assert [(d["rule"], d["llm"]) for d in run.disagreements] == [("code", "qa")]
    assert run.disagreements[0]["text"].startswith("Write a Python function")
    retagged = Prompt.objects.get(messages__0__content__startswith="Write a Python")
    assert (retagged.task_type, retagged.meta["tagged_by"]) == ("qa", "llm")
    from_file.refresh_from_db()
    assert (from_file.task_type, from_file.meta["tagged_by"]) == ("code", "source")


def test_tag_with_llm_keeps_a_type_a_person_set_unless_retag_is_asked(project, llm_server):
    (person_set,) = seed(project, ["Write a Python function to sort a list."])
    # A rule-tagged prompt whose type a person later changed in the admin.
    person_set.task_type = "qa"
    person_set.meta = {"tagged_by": "rules", "rule_task_type": "code"}
    person_set.save()
    llm_server.respond_with(lambda request: Reply(json.dumps({"task_type": "code"})))
    options = {"project": project, "llm_model": "scripted", "llm_base_url": llm_server.base_url}

    run = pipeline_run_execute(run=prompts_tag(enqueue=False, **options))
    assert run.counts["rules"] == 0
    assert llm_server.requests == []
    person_set.refresh_from_db()
    assert person_set.task_type == "qa"

    run = pipeline_run_execute(run=prompts_tag(retag=True, enqueue=False, **options))
    assert run.counts["llm"] == 1
    person_set.refresh_from_db()
    assert (person_set.task_type, person_set.meta["tagged_by"]) == ("code", "llm")


def test_synthesize_rewrites_link_to_origin_and_drafts_record_usage(project, llm_server):
    (origin,) = seed(project, ["Explain how vaccines train the immune system."])
    llm_server.script(Reply("A vaccine shows the body a harmless piece of a germ."))
    run = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            rewrites=["json_output"],
            drafts=True,
            llm_model="scripted",
            llm_base_url=llm_server.base_url,
            enqueue=False,
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["rewrites"] == 1
    variant = Prompt.objects.exclude(pk=origin.pk).get()
    assert variant.meta["origin"]
    draft = Completion.objects.get(prompt=origin)
    assert draft.meta == {"draft": True}
    assert run.completion_tokens > 0


def test_synthesize_needs_something_to_do(project):
    with pytest.raises(PipelineRunError) as error:
        prompts_synthesize(project=project, enqueue=False)
    assert str(error.value) == ERROR_NOTHING_TO_SYNTHESIZE


def test_tasks_are_balanced_across_task_types(project):
    prompt_bulk_create(
        project=project,
        prompts=[
            {"messages": [{"role": "user", "content": f"code question {i}"}], "task_type": "code"}
            for i in range(6)
        ]
        + [
            {"messages": [{"role": "user", "content": f"qa question {i}"}], "task_type": "qa"}
            for i in range(2)
        ],
    )
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(project=project, kind="demonstration", limit=4, enqueue=False)
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["by_task_type"] == {"code": 2, "qa": 2}
    assert Task.objects.filter(project=project).count() == 4
    assert {t.required_annotations for t in Task.objects.all()} == {project.overlap}
    # A second run takes the prompts that have no task yet.
    run = pipeline_run_execute(
        run=tasks_create_from_prompts(
            project=project, kind="demonstration", limit=10, enqueue=False
        )
    )
    assert run.counts["tasks"] == 4
    assert Task.objects.count() == 8


def test_task_limit_is_checked(project):
    with pytest.raises(PipelineRunError) as error:
        tasks_create_from_prompts(project=project, kind="ranking", limit=0, enqueue=False)
    assert str(error.value) == ERROR_LIMIT


def test_stage_names(project):
    assert {s.value for s in PipelineStage} == {
        *("import", "filter", "tag", "synthesize", "structured", "tasks")
    }


def test_candidates_come_from_the_models_in_turn_and_failures_are_reported(project, llm_server):
    (prompt,) = seed(project, ["Suggest a name for a hiking club."])

    def answer(request):
        if request["model"] == "broken":
            return Reply(status=400, error_message="no such model")
        return f"{request['model']} says: Trail Blazers"

    llm_server.respond_with(answer)
    run = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            candidates=4,
            candidate_models=["alpha", "beta", "broken"],
            llm_model="alpha",
            llm_base_url=llm_server.base_url,
            enqueue=False,
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    answers = list(Completion.objects.filter(prompt=prompt).order_by("id"))
    # Slots 0..3 go to alpha, beta, broken, alpha: three arrive, the failed one is reported.
    assert sorted(a.model_name for a in answers) == ["alpha", "alpha", "beta"]
    assert all(a.meta == {"candidate": True} for a in answers)
    assert run.counts["candidates"] == 3 and run.counts["candidate_failures"] == 1
    assert "no such model" in run.failures[0]["reason"]


def test_self_instruct_adds_prompts_of_each_type_and_drops_near_copies(project, llm_server):
    prompt_bulk_create(
        project=project,
        prompts=[
            {
                "messages": [{"role": "user", "content": "Who discovered penicillin and when?"}],
                "task_type": "qa",
            }
        ],
    )
    llm_server.script(
        json.dumps(
            {
                "prompts": [
                    "Who discovered penicillin and when?",
                    "Why is the sky blue during the day?",
                ]
            }
        )
    )
    run = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            self_instruct=1,
            llm_model="scripted",
            llm_base_url=llm_server.base_url,
            enqueue=False,
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert run.counts["self_instruct"] == 1
    assert run.counts["self_instruct_dropped"] == 1
    new = Prompt.objects.get(source="synthesis:self_instruct")
    assert new.task_type == "qa"
    assert new.messages[-1]["content"] == "Why is the sky blue during the day?"


@pytest.mark.parametrize(("limit", "measure"), [(100, "rouge_l"), (0, "minhash")])
def test_self_instruct_checks_a_large_pool_with_minhash(
    project, llm_server, monkeypatch, limit, measure
):
    """ROUGE-L is O(pool) per candidate; past the limit the stage asks for MinHash LSH, and a
    copy of a pool prompt is still dropped."""
    from labeling.pipeline import synthesis
    from labeling.services.pipeline import stage_llm

    seen = []
    real = synthesis.self_instruct

    def spy(*args, **kwargs):
        seen.append(kwargs["similarity"])
        return real(*args, **kwargs)

    monkeypatch.setattr(stage_llm, "self_instruct", spy)
    monkeypatch.setattr(stage_llm, "ROUGE_POOL_LIMIT", limit)
    text = "Who discovered penicillin and when did it become a medicine for infections?"
    prompt_bulk_create(
        project=project,
        prompts=[{"messages": [{"role": "user", "content": text}], "task_type": "qa"}],
    )
    llm_server.script(json.dumps({"prompts": [text, "Why is the sky blue during the day?"]}))
    run = pipeline_run_execute(
        run=prompts_synthesize(
            project=project,
            self_instruct=1,
            llm_model="scripted",
            llm_base_url=llm_server.base_url,
            enqueue=False,
        )
    )
    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert seen == [measure]
    assert (run.counts["self_instruct"], run.counts["self_instruct_dropped"]) == (1, 1)
