"""Paraphrase detection on GLUE MRPC (sentence pairs) with all-MiniLM-L6-v2, the Trainer and the glue metric.

    python examples/mrpc_glue.py
    python examples/mrpc_glue.py --max-steps 6 --max-train-samples 96 --max-eval-samples 64

Both sentences go through the tokenizer as a pair ([CLS] a [SEP] b [SEP], token_type_ids 0/1),
truncated together to 128 tokens. The metric is `metrics.load("glue", "mrpc")`: accuracy and F1
of the positive (paraphrase) class, the two numbers the GLUE leaderboard reports.
"""

from __future__ import annotations

import numpy as np

from _shared import common_parser, limit, minilm_folder, train_evaluate_save
from snuggle import (
    AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
    EarlyStoppingCallback, Trainer, TrainingArguments, load_dataset, set_seed,
)
from snuggle import metrics

LABELS = {0: "not_equivalent", 1: "equivalent"}


def parse_args(argv=None):
    parser = common_parser(__doc__.splitlines()[0], "runs/mrpc", max_length=128, batch_size=32, learning_rate=1e-4,
                           num_epochs=3.0, eval_steps=58, logging_steps=20, patience=3)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    set_seed(args.seed)
    if args.num_threads:
        import torch

        torch.set_num_threads(args.num_threads)
    model_path = args.model_name_or_path or minilm_folder()

    # GLUE's MRPC TSV: unquoted sentences that contain bare '"' -> quoting=3 (csv.QUOTE_NONE);
    # "utf-8-sig" drops the byte-order mark in front of the first header name.
    folder = args.data_dir / "mrpc"
    raw = load_dataset("csv", data_files={"train": str(folder / "train.tsv"), "validation": str(folder / "dev.tsv")},
                       delimiter="\t", quoting=3, encoding="utf-8-sig")
    raw = raw.rename_columns({"Quality": "label", "#1 String": "sentence1", "#2 String": "sentence2"})
    raw = raw.remove_columns(["#1 ID", "#2 ID"])
    train_raw = limit(raw["train"].shuffle(seed=args.seed), args.max_train_samples)
    eval_raw = limit(raw["validation"], args.max_eval_samples)

    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def tokenize(batch):
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True, max_length=args.max_length)

    columns = ["sentence1", "sentence2"]
    train_ds = train_raw.map(tokenize, batched=True, remove_columns=columns)
    eval_ds = eval_raw.map(tokenize, batched=True, remove_columns=columns)

    model = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=2, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})

    glue = metrics.load("glue", "mrpc")

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        return glue.compute(predictions=np.argmax(logits, axis=-1), references=labels)

    training_args = TrainingArguments(
        output_dir=args.output_dir,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=64,
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
        metric_for_best_model="f1",
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
    return train_evaluate_save(trainer, args.output_dir, train_ds, eval_ds)


if __name__ == "__main__":
    main()
