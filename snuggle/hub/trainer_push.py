"""The Trainer's Hub side: create the repo, push on every save, push at the end with a model card.

    args = TrainingArguments("out/tiny-bert", push_to_hub=True, hub_model_id="alice/tiny-bert",
                             hub_strategy="every_save", save_steps=100)
    trainer = Trainer(model, args, train_dataset=train, eval_dataset=dev)   # creates alice/tiny-bert
    trainer.train()                      # each checkpoint's model files -> "Training in progress, step N"
    trainer.push_to_hub()                # final model + README.md -> "End of training"

hub_strategy: "end" pushes only in push_to_hub(); "every_save" also pushes the model files of each
checkpoint to the repo root; "checkpoint" additionally uploads the whole latest checkpoint (optimizer,
scheduler, RNG, trainer state) as `last-checkpoint/` so training can resume from the Hub;
"all_checkpoints" uploads each checkpoint folder under its own name. Pushes are synchronous (blocking=False
is accepted and behaves like True): a checkpoint on the Hub is complete when the save step returns.

The model card lists the training hyper-parameters, the evaluation results table from the log history
and the final metrics, with `library_name: transformers` and the `generated_from_trainer` tag like the
reference's cards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snuggle.utils.logging import get_logger

logger = get_logger(__name__)

# What never goes to the repo root: private files, checkpoint folders (pushed separately if asked),
# the Trainer's half-written checkpoint folders, and resume-only state.
_IGNORE_AT_ROOT = ["_*", "checkpoint-*", "checkpoint-*/**", "tmp-checkpoint-*", "tmp-checkpoint-*/**"]
_RESUME_ONLY = ["optimizer.pt", "scheduler.pt", "rng_state*.pth", "trainer_state.json", "scaler.pt"]


def _strategy(args) -> str:
    value = args.hub_strategy
    return getattr(value, "value", value)


def _token(trainer, token: str | None = None):
    return token if token is not None else trainer.args.hub_token


def init_hf_repo(trainer, token: str | None = None) -> str:
    """Create the Trainer's repo (hub_model_id, or output_dir's folder name in the caller's namespace)
    and its hub_revision branch when missing; sets and returns `trainer.hub_model_id`."""
    from snuggle.hub.push import ensure_repo, hub_api

    args = trainer.args
    name = args.hub_model_id or Path(args.output_dir).absolute().name
    repo_id = ensure_repo(hub_api(_token(trainer, token)), name, private=args.hub_private_repo,
                          revision=args.hub_revision)
    trainer.hub_model_id = repo_id
    return repo_id


def push_trainer_to_hub(trainer, commit_message: str | None = "End of training", blocking: bool = True,
                        token: str | None = None, revision: str | None = None, **card_kwargs: Any):
    """Trainer.push_to_hub: save the model into output_dir, write README.md, upload output_dir.

    `card_kwargs` go to the model card (language, license, tags, model_name, finetuned_from, tasks,
    dataset_tags, dataset, dataset_args). Returns the CommitInfo (None on processes other than rank 0).
    """
    args = trainer.args
    token = _token(trainer, token)
    model_name = card_kwargs.pop("model_name", None)
    if model_name is None and args.should_save:
        model_name = Path(args.hub_model_id).name if args.hub_model_id else Path(args.output_dir).name
    if trainer.is_world_process_zero() and getattr(trainer, "hub_model_id", None) is None:
        init_hf_repo(trainer, token=token)
    trainer.save_model(_internal_call=True)  # every process: save_model itself decides who writes
    if not trainer.is_world_process_zero():
        return None
    create_model_card(trainer, model_name=model_name, **card_kwargs)
    from snuggle.hub.push import hub_api

    return hub_api(token).upload_folder(
        repo_id=trainer.hub_model_id, folder_path=args.output_dir, commit_message=commit_message or "End of training",
        revision=revision if revision is not None else args.hub_revision, ignore_patterns=_IGNORE_AT_ROOT,
    )


def push_from_checkpoint(trainer, checkpoint_folder: str):
    """After a checkpoint is saved: push its model files to the repo root (hub_strategy every_save,
    checkpoint, all_checkpoints), plus the folder itself for checkpoint / all_checkpoints."""
    strategy = _strategy(trainer.args)
    if not trainer.is_world_process_zero() or strategy == "end":
        return None
    if getattr(trainer, "hub_model_id", None) is None:
        init_hf_repo(trainer)
    from snuggle.hub.push import hub_api

    args = trainer.args
    api = hub_api(_token(trainer))
    step = trainer.state.global_step
    message = f"Training in progress, step {step}"
    if getattr(args.save_strategy, "value", args.save_strategy) == "epoch" and trainer.state.epoch is not None:
        message = f"Training in progress, epoch {int(trainer.state.epoch)}"
    info = api.upload_folder(repo_id=trainer.hub_model_id, folder_path=checkpoint_folder, commit_message=message,
                             revision=args.hub_revision, ignore_patterns=["_*", *_RESUME_ONLY])
    if strategy in ("checkpoint", "all_checkpoints"):
        path_in_repo = "last-checkpoint" if strategy == "checkpoint" else os.path.basename(checkpoint_folder)
        info = api.upload_folder(repo_id=trainer.hub_model_id, folder_path=checkpoint_folder,
                                 path_in_repo=path_in_repo, commit_message=message + ", checkpoint",
                                 revision=args.hub_revision,
                                 delete_patterns=["*"] if strategy == "checkpoint" else None)
    return info


# ------------------------------------------------------------------------------------ model card


def training_hyperparameters(args) -> dict[str, Any]:
    """The hyper-parameters a Trainer model card lists (same keys and wording as the reference)."""
    def value(x):
        return getattr(x, "value", x)

    hp: dict[str, Any] = {
        "learning_rate": args.learning_rate,
        "train_batch_size": args.per_device_train_batch_size,
        "eval_batch_size": args.per_device_eval_batch_size,
        "seed": args.seed,
    }
    if args.world_size > 1:
        hp["distributed_type"] = "multi-GPU" if args.world_size > 1 else "no"
        hp["num_devices"] = args.world_size
    if args.gradient_accumulation_steps > 1:
        hp["gradient_accumulation_steps"] = args.gradient_accumulation_steps
    total_train = args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
    if total_train != hp["train_batch_size"]:
        hp["total_train_batch_size"] = total_train
    total_eval = args.per_device_eval_batch_size * args.world_size
    if total_eval != hp["eval_batch_size"]:
        hp["total_eval_batch_size"] = total_eval
    optim = value(args.optim)
    optim_args = args.optim_args or "No additional optimizer arguments"
    if "adam" in str(optim).lower():
        hp["optimizer"] = (f"Use {optim} with betas=({args.adam_beta1},{args.adam_beta2}) and "
                           f"epsilon={args.adam_epsilon} and optimizer_args={optim_args}")
    else:
        hp["optimizer"] = f"Use {optim} and the args are:\n{optim_args}"
    hp["lr_scheduler_type"] = value(args.lr_scheduler_type)
    if args.warmup_steps:
        hp["lr_scheduler_warmup_steps"] = args.warmup_steps
    if args.max_steps != -1:
        hp["training_steps"] = args.max_steps
    else:
        hp["num_epochs"] = args.num_train_epochs
    if getattr(args, "label_smoothing_factor", 0.0):
        hp["label_smoothing_factor"] = args.label_smoothing_factor
    return hp


def _round(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def _metric_title(key: str) -> str:
    return " ".join(part.capitalize() for part in key.removeprefix("eval_").split("_"))


def results_from_log_history(log_history: list[dict]) -> tuple[list[dict], dict[str, Any]]:
    """(one row per evaluation: Training Loss, Epoch, Step, Validation Loss, metrics; last eval metrics).

    >>> rows, last = results_from_log_history([{"loss": 0.9, "step": 1}, {"eval_loss": 0.8, "eval_accuracy": 0.5,
    ...     "epoch": 1.0, "step": 2, "eval_runtime": 0.1}])
    >>> rows
    [{'Training Loss': 0.9, 'Epoch': 1.0, 'Step': 2, 'Validation Loss': 0.8, 'Accuracy': 0.5}]
    >>> last
    {'Loss': 0.8, 'Accuracy': 0.5}
    """
    skip = {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "eval_loss", "epoch", "step"}
    rows, last, train_loss = [], {}, "No log"
    for entry in log_history:
        if "loss" in entry:
            train_loss = entry["loss"]
        if "eval_loss" not in entry:
            continue
        row = {"Training Loss": train_loss, "Epoch": entry.get("epoch"), "Step": entry.get("step"),
               "Validation Loss": entry["eval_loss"]}
        metrics = {_metric_title(k): v for k, v in entry.items() if k.startswith("eval_") and k not in skip}
        row.update(metrics)
        rows.append(row)
        last = {"Loss": entry["eval_loss"], **metrics}
    return rows, last


def markdown_table(rows: list[dict]) -> str:
    """A GitHub markdown table with the keys of the first row as header.

    >>> print(markdown_table([{"a": 1, "b": 0.123456}]))
    | a | b      |
    |:-:|:------:|
    | 1 | 0.1235 |
    """
    if not rows:
        return ""
    columns = list(rows[0])
    cells = [[str(_round(row.get(c, ""))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |",
             "|" + "|".join(":" + "-" * w + ":" for w in widths) + "|"]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths)) + " |" for r in cells]
    return "\n".join(lines)


def _finetuned_from(model) -> str | None:
    name = getattr(getattr(model, "config", None), "_name_or_path", "") or ""
    # a local folder is no base model anybody else can look up
    if not name or os.path.isdir(name) or name.startswith((".", "/", "~")) or name.count("/") > 1:
        return None
    return name


def create_model_card(trainer, language: str | None = None, license: str | None = None,
                      tags: str | list[str] | None = None, model_name: str | None = None,
                      finetuned_from: str | None = None, tasks: str | list[str] | None = None,
                      dataset_tags: str | list[str] | None = None, dataset: str | list[str] | None = None,
                      dataset_args: str | list[str] | None = None) -> str | None:
    """Write README.md into output_dir for the trained model; returns its path (None off rank 0)."""
    from snuggle import __version__
    from snuggle.hub.card_data import ModelCardData
    from snuggle.hub.cards import ModelCard

    if not trainer.is_world_process_zero():
        return None
    args = trainer.args
    model = trainer.model
    model = getattr(model, "module", model)
    model_name = model_name or Path(args.output_dir).name
    finetuned_from = finetuned_from or _finetuned_from(model)
    tags = ["generated_from_trainer"] + ([tags] if isinstance(tags, str) else list(tags or []))
    datasets = [dataset_tags] if isinstance(dataset_tags, str) else dataset_tags
    rows, last = results_from_log_history(trainer.state.log_history or [])

    data = ModelCardData(library_name="transformers", license=license, language=language, base_model=finetuned_from,
                         tags=tags, datasets=datasets)
    # The reference always writes a model-index naming the model (results may be empty).
    data["model-index"] = [{"name": model_name, "results": []}]
    lines = ["<!-- This model card has been generated automatically according to the information the Trainer had "
             "access to. You should probably proofread and complete it, then remove this comment. -->", "",
             f"# {model_name}", ""]
    on = f" on the {dataset if isinstance(dataset, str) else ', '.join(dataset)} dataset" if dataset else \
        " on an unknown dataset"
    source = f"a fine-tuned version of [{finetuned_from}]({finetuned_from})" if finetuned_from else \
        "trained from scratch"
    lines.append(f"This model is {source}{on}.")
    if last:
        lines.append("It achieves the following results on the evaluation set:")
        lines += [f"- {k}: {_round(v)}" for k, v in last.items()]
    lines += ["", "## Model description", "", "More information needed", "",
              "## Intended uses & limitations", "", "More information needed", "",
              "## Training and evaluation data", "", "More information needed", "",
              "## Training procedure", "", "### Training hyperparameters", "",
              "The following hyperparameters were used during training:"]
    lines += [f"- {k}: {v}" for k, v in training_hyperparameters(args).items()]
    if rows:
        lines += ["", "### Training results", "", markdown_table(rows)]
    import torch

    lines += ["", "### Framework versions", "", f"- snuggle {__version__}", f"- Pytorch {torch.__version__}", ""]
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines))
    path = os.path.join(args.output_dir, "README.md")
    card.save(path)
    return path
