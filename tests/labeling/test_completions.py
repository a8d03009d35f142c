import pytest

from labeling.models import Completion
from labeling.services import completion_bulk_create, prompt_bulk_create
from labeling.services.prompts import PromptError

pytestmark = pytest.mark.django_db


def _prompt(project):
    (prompt,) = prompt_bulk_create(
        project=project, prompts=[{"messages": [{"role": "user", "content": "Say hi."}]}]
    )
    return prompt


def test_nul_bytes_in_model_output_are_dropped_so_postgresql_can_store_it(project):
    prompt = _prompt(project)
    completion_bulk_create(
        project=project,
        completions=[{"prompt": prompt.pk, "text": "h\x00i\x00", "model_name": "m"}],
    )
    assert Completion.objects.get(prompt=prompt).text == "hi"


def test_an_answer_of_only_nul_bytes_is_refused(project):
    prompt = _prompt(project)
    with pytest.raises(PromptError):
        completion_bulk_create(
            project=project, completions=[{"prompt": prompt.pk, "text": "\x00\x00"}]
        )
    assert not Completion.objects.exists()
