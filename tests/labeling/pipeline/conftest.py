import pytest

from flywheel.llm import LLMClient, LLMConfig


@pytest.fixture
def client(llm_server):
    """A client on the scripted server: one retry, no waiting between attempts."""
    config = LLMConfig(
        base_url=llm_server.base_url, model="scripted", max_retries=1, max_concurrency=4
    )
    return LLMClient(config, sleep=lambda seconds: None)
