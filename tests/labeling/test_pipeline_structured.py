"""Structured synthesis as a pipeline stage (long-context, function calling, RAG) against the
local OpenAI-compatible server: the service, the management command, the API, the admin and
the page's form; then the prompts become tasks whose claim carries the structure."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

from flywheel.testing.openai_server import Reply, last_user_text
from labeling.models import PipelineRun, PipelineStage, PipelineStatus, Prompt, Role, Task
from labeling.pipeline import structured, structured_inputs
from labeling.pipeline.demo_structured import load_demo as load_structured_demo
from labeling.pipeline.demo_structured import structured_demo_prompts
from labeling.pipeline.records import ParsedPrompt, prompt_payload
from labeling.services import (
    assignment_claim,
    membership_set,
    prompt_bulk_create,
    task_bulk_create,
)
from labeling.services.pipeline import (
    ERROR_LLM_MODEL,
    pipeline_run_execute,
    tasks_create_from_prompts,
)
from labeling.services.structured import (
    ERROR_COUNT,
    ERROR_TASK_TYPE,
    PipelineRunError,
    prompts_synthesize_structured,
)

pytestmark = pytest.mark.django_db

KINDS = ["long_context", "function_calling", "rag"]

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city's name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

DOCUMENTS = [
    {"title": "Harbour Bridge", "text": "The bridge was finished in 1932. " * 40},
    {"title": "Broken", "text": "A document the model answers with garbage."},
    {"title": "Lighthouse", "text": "The lighthouse was lit in 1858 and automated in 1987."},
]

PASSAGES = [
    {"id": "p1", "title": "Norway", "text": "Oslo is the capital of Norway."},
    {"id": "p2", "text": "Bergen is on the west coast."},
    {"id": "p3", "text": "Lyon is in France."},
    {"id": "p4", "text": "Lyon sits where the Rhone meets the Saone."},
    {"id": "p5", "text": "Tromso lies north of the Arctic Circle."},
]


def model(request):
    """A model that answers each builder's request by its system prompt; some items wrong."""
    system = request["messages"][0]["content"]
    text = last_user_text(request)
    if "reading-comprehension" in system:
        if "Broken" in text:
            return Reply(raw_body="{not json")
        title = text.splitlines()[0].lstrip("# ")
        return json.dumps(
            {
                "items": [
                    {"question": f"When was the {title} finished?", "answer": "In 1932."},
                    {"question": f"Who built the {title}?", "answer": "Engineers."},
                ]
            }
        )
    if "realistic user requests" in system:
        seed = request.get("seed")
        items = [
            {
                "request": f"Weather in Oslo, please ({seed}-{i})",
                "call": {"name": "get_weather", "arguments": {"city": "Oslo"}},
            }
            for i in range(4)
        ]
        items.append({"request": "Email my boss", "call": {"name": "send_mail", "arguments": {}}})
        return json.dumps({"items": items})
    ids = re.findall(r"^\[(\w+)\]", text, flags=re.MULTILINE)
    if "p5" in ids:
        return json.dumps({"items": [{"question": "Where?", "answer": "?", "cited": ["p9"]}]})
    return json.dumps(
        {
            "items": [
                {
                    "question": f"What does {ids[0]} say?",
                    "answer": f"See [{ids[0]}].",
                    "cited": [ids[0]],
                }
            ]
        }
    )


@pytest.fixture(autouse=True)
def _artifacts(settings, tmp_path):
    """Runs store their input beside them; here, in the test's own folder."""
    settings.FLYWHEEL_ARTIFACT_DIR = tmp_path / "artifacts"


@pytest.fixture
def structured_project(project):
    project.task_types = [*project.task_types, *KINDS]
    project.save(update_fields=["task_types"])
    return project


@pytest.fixture
def llm(llm_server):
    llm_server.respond_with(model)
    return llm_server


def start(project, llm_server, **options):
    options.setdefault("llm_model", "scripted")
    return prompts_synthesize_structured(
        project=project, llm_base_url=llm_server.base_url, enqueue=False, **options
    )


# -- the service -------------------------------------------------------------------------------


def test_long_context_run_stores_document_and_question_and_reports_the_failed_document(
    structured_project, llm
):
    run = start(
        structured_project,
        llm,
        kind="long_context",
        documents=DOCUMENTS,
        questions_per_document=2,
        price_prompt_per_mtok=2.0,
        price_completion_per_mtok=10.0,
    )
    assert run.stage == PipelineStage.STRUCTURED and run.input_name == "3 document(s)"
    seen = []
    run = pipeline_run_execute(run=run, on_progress=lambda done, total: seen.append((done, total)))

    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert (run.done, run.total) == (3, 3) and seen[-1] == (3, 3)
    prompts = Prompt.objects.filter(project=structured_project).order_by("id")
    assert prompts.count() == 4 == run.counts["prompts"]
    first = prompts.first()
    assert first.task_type == "long_context"
    assert first.meta["structure"] == {
        "kind": "long_context",
        "title": "Harbour Bridge",
        "document": DOCUMENTS[0]["text"].strip(),
        "question": "When was the Harbour Bridge finished?",
    }
    assert first.meta["reference"] == "In 1932."
    assert first.messages[0]["content"].endswith("Question: When was the Harbour Bridge finished?")
    [failure] = run.failures
    assert failure["key"] == "Broken" and "cannot read" in failure["reason"]
    assert run.counts["failures"] == 1
    assert run.prompt_tokens > 0 and run.completion_tokens > 0
    expected = (run.prompt_tokens * 2.0 + run.completion_tokens * 10.0) / 1_000_000
    assert run.cost_usd == pytest.approx(expected)


def test_function_calling_run_checks_each_call_against_the_tools(structured_project, llm):
    run = pipeline_run_execute(
        run=start(structured_project, llm, kind="function_calling", tools=[WEATHER], count=7)
    )

    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert (run.done, run.total) == (2, 2)  # 7 items at 5 a call
    prompts = list(Prompt.objects.filter(task_type="function_calling"))
    assert len(prompts) == 7 == run.counts["prompts"]
    assert prompts[0].meta["structure"]["tools"] == [WEATHER]
    assert prompts[0].meta["structure"]["expected_call"] == {
        "name": "get_weather",
        "arguments": {"city": "Oslo"},
    }
    # Each call asks with its own seed, so two calls do not make the same items.
    seeds = sorted(r["seed"] for r in llm.requests)
    assert len(set(seeds)) == 2 and seeds[1] == seeds[0] + 1
    reason = structured.ERROR_UNKNOWN_TOOL.format(name="send_mail")
    assert run.failures == [
        {"key": "call 1", "reason": structured.ERROR_ITEM.format(index=5, reason=reason)}
    ]  # call 2 stopped at the seventh item, before its wrong one


def test_rag_run_makes_the_asked_number_of_questions_and_reports_a_bad_citation(
    structured_project, llm
):
    run = pipeline_run_execute(
        run=start(
            structured_project, llm, kind="rag", passages=PASSAGES, passages_per_item=2, count=3
        )
    )

    assert run.status == PipelineStatus.SUCCEEDED, run.error
    assert (run.done, run.total) == (3, 3)  # groups p1-p2, p3-p4, p5
    [first, second] = Prompt.objects.filter(task_type="rag").order_by("id")
    assert [p["id"] for p in first.meta["structure"]["passages"]] == ["p1", "p2"]
    assert first.meta["structure"]["question"] == "What does p1 say?"
    assert first.meta["structure"]["cited"] == ["p1"]
    assert "[p1] Norway\nOslo is the capital" in first.messages[0]["content"]
    assert second.meta["structure"]["cited"] == ["p3"]
    bad = structured.ERROR_BAD_CITATION.format(ids="p9")
    assert run.failures == [
        {"key": "passages p5", "reason": structured.ERROR_ITEM.format(index=1, reason=bad)}
    ]


def test_a_second_run_adds_only_new_prompts(structured_project, llm):
    options = {"kind": "long_context", "documents": DOCUMENTS[:1]}
    pipeline_run_execute(run=start(structured_project, llm, **options))
    again = pipeline_run_execute(run=start(structured_project, llm, **options))
    assert again.counts["prompts"] == 0 and again.counts["duplicates"] == 2
    assert Prompt.objects.count() == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"kind": "function_calling", "tools": [{"name": "f"}]},
            structured.ERROR_BAD_TOOL.format(index=1, reason='"type" must be "function"'),
        ),
        ({"kind": "function_calling", "tools": []}, structured_inputs.ERROR_NO_TOOLS),
        (
            {"kind": "function_calling", "tools": [WEATHER], "count": 0},
            ERROR_COUNT.format(name="The number of items", high=1000),
        ),
        ({"kind": "long_context", "documents": []}, structured_inputs.ERROR_NO_DOCUMENTS),
        (
            {"kind": "rag", "passages": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]},
            structured_inputs.ERROR_PASSAGE_DUPLICATE.format(id="a"),
        ),
        ({"kind": "rag", "passages": PASSAGES, "llm_model": ""}, ERROR_LLM_MODEL),
    ],
)
def test_bad_input_is_refused_before_a_run_is_made(structured_project, llm, options, message):
    with pytest.raises(PipelineRunError) as error:
        start(structured_project, llm, **options)
    assert str(error.value) == message
    assert not PipelineRun.objects.exists()


def test_a_project_without_the_task_type_is_told_to_add_it(project, llm):
    with pytest.raises(PipelineRunError) as error:
        start(project, llm, kind="rag", passages=PASSAGES)
    assert str(error.value) == ERROR_TASK_TYPE.format(types="qa, code", kind="rag")


def test_a_refused_call_fails_its_item_not_the_run(structured_project, llm):
    llm.respond_with(lambda request: Reply(status=400, error_message="model not found"))
    run = pipeline_run_execute(
        run=start(structured_project, llm, kind="long_context", documents=DOCUMENTS[:1])
    )
    assert run.status == PipelineStatus.SUCCEEDED
    [failure] = run.failures
    assert failure["key"] == "Harbour Bridge" and "model not found" in failure["reason"]
    assert run.counts["prompts"] == 0


# -- into tasks, and what a labeler gets -----------------------------------------------------


def test_structured_prompts_become_tasks_and_the_claim_carries_the_structure(
    structured_project, llm, labeler
):
    pipeline_run_execute(
        run=start(structured_project, llm, kind="function_calling", tools=[WEATHER], count=1)
    )
    for kind in ("demonstration", "rubric"):
        if kind == "rubric":
            Prompt.objects.get().completions.create(text="get_weather(city='Oslo')")
        run = pipeline_run_execute(
            run=tasks_create_from_prompts(
                project=structured_project, kind=kind, gold_share=0, enqueue=False
            )
        )
        assert run.counts["tasks"] == 1
    client = APIClient()
    client.force_authenticate(labeler)
    seen = {}
    for _ in range(2):
        claim = client.post(f"/api/projects/{structured_project.pk}/claim/").json()
        seen[claim["task"]["kind"]] = claim["task"]["structure"]
        skipped = client.post(
            f"/api/tasks/{claim['task']['id']}/skip/", {"reason": "seen it"}, format="json"
        )
        assert skipped.status_code == 200, skipped.json()
    assert seen["demonstration"] == {"kind": "function_calling", "tools": [WEATHER]}
    assert seen["rubric"]["expected_call"] == {"name": "get_weather", "arguments": {"city": "Oslo"}}


# -- the command -------------------------------------------------------------------------------


def test_command_runs_a_tools_file_and_prints_progress_usage_and_failures(
    structured_project, llm, tmp_path
):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps({"tools": [WEATHER]}))
    out, err = StringIO(), StringIO()
    call_command(
        "synthesize_structured",
        *("--project", structured_project.slug, "--kind", "function_calling"),
        *("--input", str(tools), "--model", "scripted", "--base-url", llm.base_url),
        *("-n", "5", "--price-in", "1", "--price-out", "1"),
        stdout=out,
        stderr=err,
    )
    run = PipelineRun.objects.get()
    assert run.status == PipelineStatus.SUCCEEDED and run.input_name == "tools.json"
    assert "1/1 LLM calls" in out.getvalue()
    assert f"run {run.pk}: 4 new function_calling prompts" in out.getvalue()
    assert "1 failed" in out.getvalue() and "send_mail" in err.getvalue()
    assert run.cost_usd > 0


def test_command_reads_a_folder_of_documents(structured_project, llm, tmp_path):
    (tmp_path / "bridge.md").write_text("# Harbour Bridge\n\nFinished in 1932.")
    (tmp_path / "notes.csv").write_text("not a document")
    out = StringIO()
    call_command(
        "synthesize_structured",
        *("--project", structured_project.slug, "--kind", "long_context", "--input", tmp_path),
        *("--model", "scripted", "--base-url", llm.base_url, "--questions-per-document", "1"),
        stdout=out,
    )
    prompt = Prompt.objects.first()
    assert prompt.meta["structure"]["title"] == "bridge"
    assert Prompt.objects.count() == 2  # the model wrote two questions


def test_command_says_what_is_wrong_with_the_tools(structured_project, llm, tmp_path):
    tools = tmp_path / "tools.json"
    tools.write_text('[{"type": "function", "function": {"name": "f"},}]')
    with pytest.raises(CommandError, match=r"The tools are not valid JSON: .* \(line 1, column"):
        call_command(
            "synthesize_structured",
            *("--project", structured_project.slug, "--kind", "function_calling"),
            *("--input", str(tools), "--model", "scripted"),
        )
    assert not PipelineRun.objects.exists()


# -- the API -----------------------------------------------------------------------------------


def test_api_queues_a_run_and_refuses_bad_tools_with_a_message(
    owner, structured_project, django_capture_on_commit_callbacks
):
    client = APIClient()
    client.force_authenticate(owner)
    url = f"/api/projects/{structured_project.pk}/pipeline/structured/"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            url,
            {"kind": "rag", "llm_model": "m", "passages": PASSAGES, "count": 4},
            format="json",
        )
    assert response.status_code == 202, response.json()
    run = PipelineRun.objects.get(pk=response.json()["id"])
    assert run.status == PipelineStatus.QUEUED and len(callbacks) == 1
    assert run.params["count"] == 4 and run.params["passages_per_item"] == 3
    stored = json.loads(Path(run.input_path).read_text())
    assert [p["id"] for p in stored["passages"]] == ["p1", "p2", "p3", "p4", "p5"]

    bad = client.post(
        url,
        {"kind": "function_calling", "llm_model": "m", "tools": [{"function": {"name": "f"}}]},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"] == structured.ERROR_BAD_TOOL.format(
        index=1, reason='"type" must be "function"'
    )
    assert PipelineRun.objects.count() == 1


@pytest.mark.parametrize("who", ["labeler", "stranger", "anonymous"])
def test_api_refuses_others(who, structured_project, labeler, stranger):
    client = APIClient()
    if who != "anonymous":
        client.force_authenticate({"labeler": labeler, "stranger": stranger}[who])
    response = client.post(
        f"/api/projects/{structured_project.pk}/pipeline/structured/",
        {"kind": "rag", "llm_model": "m", "passages": PASSAGES},
        format="json",
    )
    assert response.status_code in (401, 403, 404)
    assert not PipelineRun.objects.exists()


# -- the page's form and the admin -------------------------------------------------------------


def test_form_starts_a_run_from_pasted_tools(client, owner, structured_project):
    client.force_login(owner)
    response = client.post(
        reverse("labeling:pipeline_structured", args=[structured_project.pk]),
        {
            "kind": "function_calling",
            "llm_model": "m",
            "text": json.dumps([WEATHER]),
            "questions_per_document": 2,
            "count": 12,
            "passages_per_item": 3,
        },
    )
    run = PipelineRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "labeling:pipeline_run", args=[run.pk]
    )
    assert run.params["kind"] == "function_calling" and run.params["count"] == 12
    assert run.created_by == owner


def test_form_reads_uploaded_documents(client, owner, structured_project):
    client.force_login(owner)
    files = [
        SimpleUploadedFile("bridge.txt", b"The bridge was finished in 1932."),
        SimpleUploadedFile(
            "more.jsonl", b'{"title": "Lighthouse", "text": "Lit in 1858."}\n', "text/plain"
        ),
    ]
    client.post(
        reverse("labeling:pipeline_structured", args=[structured_project.pk]),
        {
            "kind": "long_context",
            "llm_model": "m",
            "files": files,
            "text": "Pasted notes\n\nA third document.",
            "questions_per_document": 1,
            "count": 10,
            "passages_per_item": 3,
        },
    )
    run = PipelineRun.objects.get()
    stored = json.loads(Path(run.input_path).read_text())
    assert [d["title"] for d in stored["documents"]] == ["bridge", "Lighthouse", "Pasted notes"]
    assert run.input_name == "bridge.txt, more.jsonl"


def test_form_shows_why_the_tools_json_is_invalid_and_keeps_the_text(
    client, owner, structured_project
):
    client.force_login(owner)
    broken = '[{"type": "function", "function": {"name": "f"}'
    response = client.post(
        reverse("labeling:pipeline_structured", args=[structured_project.pk]),
        {
            "kind": "function_calling",
            "llm_model": "m",
            "text": broken,
            "questions_per_document": 2,
            "count": 5,
            "passages_per_item": 3,
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    form = html[html.index('id="structured"') :]
    form = form[: form.index("</form>")]
    assert "The tools are not valid JSON: Expecting" in form
    assert "(line 1, column 48)." in form
    assert "[{&quot;type&quot;: &quot;function&quot;" in form  # what was typed stays
    assert not PipelineRun.objects.exists()


def test_form_refuses_a_project_without_the_task_type(client, owner, project):
    client.force_login(owner)
    response = client.post(
        reverse("labeling:pipeline_structured", args=[project.pk]),
        {
            "kind": "rag",
            "llm_model": "m",
            "text": "First passage.\n\nSecond passage.",
            "questions_per_document": 2,
            "count": 5,
            "passages_per_item": 3,
        },
    )
    assert response.status_code == 400
    message = escape(ERROR_TASK_TYPE.format(types="qa, code", kind="rag"))
    assert message in response.content.decode()


def test_form_refuses_others(client, structured_project, labeler):
    membership_set(project=structured_project, user=labeler, role=Role.LABELER)
    client.force_login(labeler)
    response = client.post(
        reverse("labeling:pipeline_structured", args=[structured_project.pk]),
        {"kind": "rag", "llm_model": "m", "text": "a\n\nb", "count": 2},
    )
    assert response.status_code in (403, 404)
    assert not PipelineRun.objects.exists()


def test_admin_starts_a_structured_run_from_a_file_on_the_server(
    client, make_user, structured_project, tmp_path
):
    admin = make_user("admin", superuser=True)
    passages = tmp_path / "passages.jsonl"
    passages.write_text("".join(json.dumps(p) + "\n" for p in PASSAGES))
    client.force_login(admin)
    response = client.post(
        reverse("admin:labeling_pipelinerun_add"),
        {
            "project": structured_project.pk,
            "stage": "structured",
            "structured_kind": "rag",
            "path": str(passages),
            "llm_model": "m",
            "items": 4,
            "limit": 100,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    run = PipelineRun.objects.get()
    assert run.stage == "structured" and run.params["count"] == 4
    assert run.input_name == "passages.jsonl"

    response = client.post(
        reverse("admin:labeling_pipelinerun_add"),
        {"project": structured_project.pk, "stage": "structured", "llm_model": "m"},
    )
    assert response.status_code == 200
    assert "Structured synthesis needs the path" in response.content.decode()


# -- the labeler and reviewer pages ------------------------------------------------------------


def structured_task(project, kind, *, prompt=None, task_kind="demonstration"):
    """A task on the demo's structured prompt of `kind` (or on `prompt`)."""
    project.task_types = [*project.task_types, *KINDS]
    project.save(update_fields=["task_types"])
    prompt = prompt or next(p for p in structured_demo_prompts() if p.task_type == kind)
    [stored] = prompt_bulk_create(project=project, prompts=[prompt_payload(prompt)])
    completions = []
    if task_kind == "rubric":
        completions = [stored.completions.create(text="book_meeting_room(...)").pk]
    [task] = task_bulk_create(
        project=project,
        tasks=[{"kind": task_kind, "prompt": stored.pk, "completions": completions}],
    )
    return task


def task_page(client, labeler, task):
    assert assignment_claim(project=task.project, user=labeler).task_id == task.pk
    client.force_login(labeler)
    response = client.get(reverse("labeling:task", args=[task.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_task_page_shows_the_document_apart_from_the_question(client, project, labeler):
    task = structured_task(project, "long_context")
    html = task_page(client, labeler, task)
    panel = html[html.index('data-structure="long_context"') :]
    panel = panel[: panel.index("</details>")]
    assert "Riverside Library: annual report 2025" in panel
    assert 'tabindex="0" role="region"' in panel and "212,400 visitors" in panel
    question = html[html.index("User · question") :]
    question = question[: question.index("</div>\n      </div>")]
    assert "How many seats were there for studying" in question
    assert "212,400 visitors" not in question  # the turn shows the question alone


def test_task_page_shows_each_tool_as_a_table_and_hides_the_expected_call_on_demonstrations(
    client, project, labeler
):
    task = structured_task(project, "function_calling")
    html = task_page(client, labeler, task)
    tools = html[html.index('data-structure="function_calling"') :]
    tools = tools[: tools.index("</section>")]
    assert 'data-tool="book_meeting_room"' in tools and 'data-tool="get_weather"' in tools
    assert "<code>room</code>" in tools and "one of Aurora, Boreal, Cirrus" in tools
    assert "array of string" in tools and "required" in tools
    assert "&quot;additionalProperties&quot;: false" in tools  # the schema, as JSON text
    assert "Expected call" not in html  # it is the answer a demonstration asks for
    assert "Can you put a 45-minute slot in Boreal" in html


def test_rubric_and_review_pages_show_the_expected_call(client, project, labeler, reviewer):
    task = structured_task(project, "function_calling", task_kind="rubric")
    html = task_page(client, labeler, task)
    call = html[html.index("data-expected-call") :]
    assert "&quot;name&quot;: &quot;book_meeting_room&quot;" in call[: call.index("</pre>")]
    assert "Gold reference answer" not in html  # the reference is that call, shown once
    client.force_login(reviewer)
    review = client.get(reverse("labeling:review_task", args=[task.pk])).content.decode()
    assert "data-expected-call" in review and "&quot;minutes&quot;: 45" in review


def test_task_page_lists_the_passages_with_ids_and_review_marks_the_cited_ones(
    client, project, labeler, reviewer
):
    task = structured_task(project, "rag")
    html = task_page(client, labeler, task)
    passages = html[html.index('data-structure="rag"') :]
    passages = passages[: passages.index("</section>")]
    assert [m for m in re.findall(r'data-passage="(\w+)"', passages)] == ["d1", "d2", "d3"]
    assert "[d2]</span> <strong>Fares</strong>" in passages
    assert "cited by the reference" not in passages
    assert "I commute by bike at 8 in the morning" in html
    client.force_login(reviewer)
    review = client.get(reverse("labeling:review_task", args=[task.pk])).content.decode()
    assert review.count("cited by the reference") == 2


def test_structure_text_is_escaped_never_rendered_as_html(client, project, labeler):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    tool = {**WEATHER, "function": {**WEATHER["function"], "description": evil}}
    prompt = structured.function_calling_prompt(
        evil, [tool], {"name": "get_weather", "arguments": {"city": evil}}
    )
    html = task_page(client, labeler, structured_task(project, "", prompt=prompt))
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_plain_prompts_have_no_structure(client, project, labeler):
    prompt = ParsedPrompt(messages=[{"role": "user", "content": "What is 2 + 2?"}])
    html = task_page(client, labeler, structured_task(project, "", prompt=prompt))
    assert "data-structure" not in html and "What is 2 + 2?" in html


# -- the demo ----------------------------------------------------------------------------------


def test_demo_runs_each_structured_kind_once_and_gives_the_labeler_one_task_of_each(project, owner):
    out = StringIO()
    load_structured_demo(project=project, users={"researcher": owner}, stdout=out)
    load_structured_demo(project=project, users={"researcher": owner}, stdout=out)
    runs = PipelineRun.objects.filter(project=project, stage="structured")
    assert sorted(r.params["kind"] for r in runs) == sorted(KINDS)
    assert {r.status for r in runs} == {"succeeded"} and {r.created_by for r in runs} == {owner}
    prompts = Prompt.objects.filter(project=project)
    assert {p.meta["pipeline_run"] for p in prompts} == {r.pk for r in runs}
    assert all(p.meta["structure"]["kind"] == p.task_type for p in prompts)
    # The labeler's tasks: the data file's item of each kind, as the scripted model gave it back.
    tasks = Task.objects.filter(project=project, kind="demonstration")
    assert sorted(t.prompt.task_type for t in tasks) == sorted(KINDS)
    assert {t.prompt.content_hash for t in tasks} == {
        p.content_hash for p in structured_demo_prompts()
    }
    assert (
        "3 demonstration task(s)" in out.getvalue() and "0 demonstration task(s)" in out.getvalue()
    )
    rag = tasks.get(prompt__task_type="rag").prompt
    assert rag.meta["structure"]["cited"] == ["d1", "d3"] and "[d1]" in rag.meta["reference"]
