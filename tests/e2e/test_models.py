"""Model listing through the real Envoy with the official SDKs: the filter answers
`GET /v1/models` (and one model) from the configuration, in OpenAI's and Anthropic's
shapes, for the models the key's team may use; nothing reaches a provider and nothing is
charged."""

import anthropic
import openai
import pytest
import yaml

from conftest import CONFIG, KEYS


@pytest.fixture(scope="module")
def configured_models():
    doc = yaml.safe_load(CONFIG.read_text())
    targets = doc["providers"]["targets"]
    aliases = doc["providers"].get("routing", {}).get("aliases", {})
    return {t["model"] for t in targets} | set(aliases)


def test_the_openai_sdk_lists_and_retrieves_the_configured_models(stack, configured_models):
    before = stack.ledger_get("/v1/spend", group_by="team")
    client = openai.OpenAI(base_url=stack.openai_base_url, api_key=KEYS["support"], max_retries=0)
    ids = {m.id for m in client.models.list()}
    assert ids == configured_models
    some = sorted(ids)[0]
    assert client.models.retrieve(some).id == some
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("no-such-model")
    assert e.value.body["code"] == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.openai_base_url, api_key="wrong", max_retries=0).models.list()
    after = stack.ledger_get("/v1/spend", group_by="team")
    assert after["total"]["requests"] == before["total"]["requests"], "listing models is not charged"


def test_the_anthropic_sdk_lists_the_configured_models(stack, configured_models):
    client = anthropic.Anthropic(base_url=stack.anthropic_base_url, api_key=KEYS["support"], max_retries=0)
    page = client.models.list()
    assert {m.id for m in page.data} == configured_models
    assert all(m.type == "model" for m in page.data)
