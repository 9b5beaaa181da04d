"""Fine-tune all-MiniLM-L6-v2 for movie-review sentiment on the 600/200/200 IMDB subset with the Trainer.

    python examples/text_classification_imdb.py
    python examples/text_classification_imdb.py --max-steps 4 --max-train-samples 64 --max-eval-samples 32

The SST-2 recipe with long inputs: reviews average ~1,300 characters, so they are truncated to 256
tokens (the head of a review carries most of its sentiment) and padded per batch. The `<br />`
markup left in the reviews is turned into spaces first. The model is picked on the validation split
and reported on the test split.
"""

from __future__ import annotations

import numpy as np

from _shared import common_parser, limit, minilm_folder, train_evaluate_save
from snuggle import (
    AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
    EarlyStoppingCallback, Trainer, TrainingArguments, load_dataset, set_seed,
)
from snuggle import metrics

LABELS = {0: "negative", 1: "positive"}


def parse_args(argv=None):
    parser = common_parser(__doc__.splitlines()[0], "runs/imdb", max_length=256, batch_size=16, learning_rate=1e-4,
                           num_epochs=4.0, eval_steps=19, logging_steps=10, patience=3)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    set_seed(args.seed)
    if args.num_threads:
        import torch

        torch.set_num_threads(args.num_threads)
    model_path = args.model_name_or_path or minilm_folder()

    folder = args.data_dir / "imdb"
    raw = load_dataset("csv", data_files={split: str(folder / f"{split}.csv") for split in ("train", "validation", "test")})
    raw = raw.rename_column("sentiment", "label")
    train_raw = limit(raw["train"], args.max_train_samples)
    eval_raw = limit(raw["validation"], args.max_eval_samples)
    test_raw = limit(raw["test"], args.max_eval_samples)

    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def tokenize(batch):
        reviews = [review.replace("<br />", " ") for review in batch["review"]]
        return tokenizer(reviews, truncation=True, max_length=args.max_length)

    train_ds, eval_ds, test_ds = (ds.map(tokenize, batched=True, remove_columns=["review"])
                                  for ds in (train_raw, eval_raw, test_raw))

    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})

    accuracy = metrics.load("accuracy")

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        return accuracy.compute(predictions=np.argmax(logits, axis=-1), references=labels)

    training_args = TrainingArguments(
        output_dir=args.output_dir,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=32,
        num_train_epochs=args.num_epochs,
        max_steps=args.max_steps,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        eval_strategy="steps",
        eval_steps=args.eval_steps,
        save_strategy="steps",
        save_steps=args.eval_steps,
        save_total_limit=2,
        save_only_model=True,
        load_best_model_at_end=True,
        metric_for_best_model="accuracy",
        logging_steps=args.logging_steps,
        report_to=["jsonl"],
        seed=args.seed,
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience)],
    )
    return train_evaluate_save(trainer, args.output_dir, train_ds, eval_ds, test_ds)


if __name__ == "__main__":
    main()
