"""Cards on the test Hub: push (validated by the server), load, metadata_update; the server's cardData
is the card's YAML."""

from __future__ import annotations

import pytest

from snuggle.hub.card_data import DatasetCardData, EvalResult, ModelCardData
from snuggle.hub.cards import DatasetCard, ModelCard, RepoCard, metadata_eval_result, metadata_update
from snuggle.hub.client import HfApi
from snuggle.hub.errors import RepositoryNotFoundError
from tests.hub.client._push_helpers import hub_env, unique  # noqa: F401 (fixture)


def test_model_card_push_load_and_card_data(hub_env, tmp_path):
    api = HfApi()
    repo_id = api.create_repo(f"alice/{unique('card')}", private=True).repo_id
    data = ModelCardData(language="en", license="mit", tags=["a"], model_name="m",
                         eval_results=[EvalResult("text-classification", "imdb", "IMDB", "accuracy", 0.9)])
    card = ModelCard.from_template(data, model_id=repo_id, model_description="Tiny ü model.")
    info = card.push_to_hub(repo_id, commit_message="Add card")
    assert api.list_repo_commits(repo_id)[0].title == "Add card" and info.oid
    loaded = ModelCard.load(repo_id)
    assert str(loaded) == str(card)
    assert loaded.data.eval_results[0].metric_value == 0.9
    assert api.model_info(repo_id).card_data.to_dict() == card.data.to_dict()
    with pytest.raises(RepositoryNotFoundError):  # private: invisible to bob (with a cache of his own)
        ModelCard.load(repo_id, token=hub_env.token_b, cache_dir=tmp_path / "bob-cache")


def test_dataset_card_push_to_pr(hub_env):
    api = HfApi()
    repo_id = api.create_repo(f"alice/{unique('dcard')}", repo_type="dataset").repo_id
    card = DatasetCard.from_template(DatasetCardData(pretty_name="Toy", license="cc-by-4.0"), pretty_name="Toy")
    info = card.push_to_hub(repo_id, create_pr=True)
    assert info.pr_num is not None
    assert DatasetCard.load(repo_id, revision=info.pr_revision).data.pretty_name == "Toy"
    assert not api.file_exists(repo_id, "README.md", repo_type="dataset")


def test_server_rejects_bad_metadata(hub_env):
    class BrokenCard(RepoCard):
        def __str__(self):
            return "---\n- not a mapping\n---\n"

    repo_id = HfApi().create_repo(f"alice/{unique('bad-card')}").repo_id
    card = BrokenCard("---\nlicense: mit\n---\n")
    with pytest.raises(ValueError, match="rejected the card metadata"):
        card.push_to_hub(repo_id)
    assert not HfApi().file_exists(repo_id, "README.md")
    card.__class__ = RepoCard
    card.validate()  # the real text is fine


def test_metadata_update(hub_env):
    api = HfApi()
    repo_id = api.create_repo(f"alice/{unique('meta')}").repo_id
    metadata_update(repo_id, {"license": "mit", "tags": ["x"]})  # no README yet: card from the template
    assert api.list_repo_commits(repo_id)[0].title == "Update metadata with huggingface_hub"
    card = ModelCard.load(repo_id)
    assert card.data.license == "mit" and "Model Card" in card.text
    with pytest.raises(ValueError, match="overwrite=True"):
        metadata_update(repo_id, {"license": "apache-2.0"})
    metadata_update(repo_id, {"license": "apache-2.0"}, overwrite=True)
    results = metadata_eval_result(model_pretty_name="m", task_pretty_name="Text Classification",
                                   task_id="text-classification", metrics_pretty_name="Accuracy",
                                   metrics_id="accuracy", metrics_value=0.5, dataset_pretty_name="IMDB",
                                   dataset_id="imdb")
    metadata_update(repo_id, results)
    results["model-index"][0]["results"][0]["metrics"][0]["type"] = "f1"
    metadata_update(repo_id, results)
    data = ModelCard.load(repo_id).data
    assert data.license == "apache-2.0"
    assert [(r.metric_type, r.metric_value) for r in data.eval_results] == [("accuracy", 0.5), ("f1", 0.5)]
