"""Named-entity recognition on CoNLL-2003 with all-MiniLM-L6-v2, the Trainer and the seqeval metric.

    python examples/token_classification_conll2003.py
    python examples/token_classification_conll2003.py --max-steps 10 --max-train-samples 320 --max-eval-samples 64

Each sentence arrives as words with IOB2 tags. The tokenizer splits words into word pieces
(`is_split_into_words=True`); the first piece of every word carries the word's tag and the other
pieces, like [CLS] and [SEP], get -100 so the loss and the metric skip them.
DataCollatorForTokenClassification pads the labels with -100 alongside the inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _shared import common_parser, limit, minilm_folder, train_evaluate_save
from snuggle import (
    AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification, Dataset,
    EarlyStoppingCallback, Trainer, TrainingArguments, set_seed,
)
from snuggle import metrics

LABEL_LIST = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def read_conll(path: Path) -> Dataset:
    """One row per sentence: `tokens` (words) and `ner_tags` (ids into LABEL_LIST), from `word POS chunk NER` lines."""
    label_to_id = {label: i for i, label in enumerate(LABEL_LIST)}
    sentences, tags, words, word_tags = [], [], [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip():
            fields = line.split(" ")
            words.append(fields[0])
            word_tags.append(label_to_id[fields[-1]])
        elif words:
            sentences.append(words)
            tags.append(word_tags)
            words, word_tags = [], []
    return Dataset.from_dict({"tokens": sentences, "ner_tags": tags})


def parse_args(argv=None):
    parser = common_parser(__doc__.splitlines()[0], "runs/conll2003", max_length=128, batch_size=32,
                           learning_rate=1e-4, num_epochs=2.0, eval_steps=200, logging_steps=50, patience=3)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    set_seed(args.seed)
    if args.num_threads:
        import torch

        torch.set_num_threads(args.num_threads)
    model_path = args.model_name_or_path or minilm_folder()

    folder = args.data_dir / "conll2003"
    train_raw = limit(read_conll(folder / "train.txt"), args.max_train_samples)
    eval_raw = limit(read_conll(folder / "valid.txt"), args.max_eval_samples)

    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def tokenize_and_align_labels(batch):
        encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=args.max_length)
        all_labels = []
        for row, word_tags in enumerate(batch["ner_tags"]):
            labels, previous = [], None
            for word in encoded.word_ids(batch_index=row):
                # special tokens (None) and continuation pieces of a word are ignored (-100)
                labels.append(-100 if word is None or word == previous else word_tags[word])
                previous = word
            all_labels.append(labels)
        encoded["labels"] = all_labels
        return encoded

    columns = ["tokens", "ner_tags"]
    train_ds = train_raw.map(tokenize_and_align_labels, batched=True, remove_columns=columns)
    eval_ds = eval_raw.map(tokenize_and_align_labels, batched=True, remove_columns=columns)

    model = AutoModelForTokenClassification.from_pretrained(
        model_path, num_labels=len(LABEL_LIST), id2label=dict(enumerate(LABEL_LIST)),
        label2id={label: i for i, label in enumerate(LABEL_LIST)})

    seqeval = metrics.load("seqeval")

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        predictions = np.argmax(logits, axis=-1)
        # keep only the positions that carry a word's tag (labels != -100), as tag strings
        true_predictions = [[LABEL_LIST[p] for p, l in zip(pred, lab) if l != -100]
                            for pred, lab in zip(predictions, labels)]
        true_labels = [[LABEL_LIST[l] for l in lab if l != -100] for lab in labels]
        scores = seqeval.compute(predictions=true_predictions, references=true_labels)
        return {"precision": scores["overall_precision"], "recall": scores["overall_recall"],
                "f1": scores["overall_f1"], "accuracy": scores["overall_accuracy"]}

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
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=args.early_stopping_patience)],
    )
    return train_evaluate_save(trainer, args.output_dir, train_ds, eval_ds)


if __name__ == "__main__":
    main()
