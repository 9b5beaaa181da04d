"""Trainer + Hub: the repo is created at init, checkpoints are pushed per hub_strategy, push_to_hub()
uploads the final model with a generated model card."""

from __future__ import annotations

import pytest
import torch

from snuggle.hub.cards import ModelCard
from snuggle.hub.client import HfApi
from snuggle.models.bert import BertForSequenceClassification
from snuggle.training.trainer import Trainer
from tests.hub.client._push_helpers import hub_env, unique  # noqa: F401 (fixture)
from tests.training.test_trainer import args_for, classification_rows, tiny_classifier

torch.set_num_threads(1)


def test_trainer_every_save_then_end_of_training(hub_env, tmp_path):
    repo_id = f"alice/{unique('trained')}"
    args = args_for(tmp_path, push_to_hub=True, hub_model_id=repo_id, hub_strategy="every_save", max_steps=2,
                    save_strategy="steps", save_steps=1, eval_strategy="steps", eval_steps=1)
    trainer = Trainer(tiny_classifier(), args, train_dataset=classification_rows(8),
                      eval_dataset=classification_rows(4, seed=1))
    api = HfApi()
    assert trainer.hub_model_id == repo_id and api.repo_exists(repo_id)  # created at init
    trainer.train()
    titles = [c.title for c in api.list_repo_commits(repo_id)]
    assert titles[:2] == ["Training in progress, step 2", "Training in progress, step 1"]
    files = set(api.list_repo_files(repo_id))
    assert {"config.json", "model.safetensors", "training_args.bin"} <= files
    assert not any(f.startswith(("checkpoint-", "optimizer", "rng_state")) or f == "trainer_state.json" for f in files)

    info = trainer.push_to_hub(license="mit", dataset="toy rows")
    assert api.list_repo_commits(repo_id)[0].title == "End of training"
    assert info.oid == api.list_repo_commits(repo_id)[0].commit_id
    card = ModelCard.load(repo_id)
    assert card.data.library_name == "transformers" and card.data.license == "mit"
    assert "generated_from_trainer" in card.data.tags
    assert card.data.model_name == repo_id.split("/")[1]
    assert "- learning_rate: 0.01" in card.text and "- training_steps: 2" in card.text
    assert "### Training results" in card.text and "Validation Loss" in card.text
    assert not any(f.startswith("checkpoint-") for f in api.list_repo_files(repo_id))

    loaded = BertForSequenceClassification.from_pretrained(repo_id)
    for (name, a), b in zip(trainer.model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("strategy", ["end", "checkpoint"])
def test_trainer_hub_strategies(hub_env, tmp_path, strategy):
    repo_id = f"alice/{unique('strategy')}"
    revision = "dev" if strategy == "end" else None
    args = args_for(tmp_path, push_to_hub=True, hub_model_id=repo_id, hub_strategy=strategy, max_steps=1,
                    save_strategy="steps", save_steps=1, hub_private_repo=True, hub_revision=revision)
    trainer = Trainer(tiny_classifier(), args, train_dataset=classification_rows(4))
    trainer.train()
    api = HfApi()
    assert api.model_info(repo_id).private is True
    files = api.list_repo_files(repo_id)
    if strategy == "end":
        assert [c.title for c in api.list_repo_commits(repo_id, revision="dev")] == ["initial commit"]
        trainer.push_to_hub()  # to hub_revision
        assert api.list_repo_commits(repo_id, revision="dev")[0].title == "End of training"
        assert [c.title for c in api.list_repo_commits(repo_id)] == ["initial commit"]
    else:
        assert "model.safetensors" in files
        assert {"last-checkpoint/optimizer.pt", "last-checkpoint/trainer_state.json"} <= set(files)
