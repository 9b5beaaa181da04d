"""Train a tiny Llama from scratch on tiny Shakespeare with a plain loop and snuggle's Accelerator.

    python examples/accelerate_clm_tinyshakespeare.py
    snuggle launch --nproc_per_node 2 examples/accelerate_clm_tinyshakespeare.py
    python examples/accelerate_clm_tinyshakespeare.py --max-steps 5 --max-train-samples 64

The loop is written out, as in the Accelerate examples: `prepare` wraps the model (DDP under
`snuggle launch`), shards the data loaders and the scheduler; `accumulate` skips the gradient
all-reduce on accumulation micro-steps; `gather_for_metrics` collects the eval losses of every
process without the duplicates the distributed sampler pads the last batch with, and the eval loss
gives the perplexity. A byte-level BPE tokenizer (512 tokens) is trained on the training text first;
the text is cut 90/10 into train/validation, tokenized and grouped into blocks of `--block-size`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from _shared import DEFAULT_DATA_DIR, Stopwatch, write_results
from snuggle import (
    Dataset, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, default_data_collator, get_scheduler,
)
from snuggle.accelerate import Accelerator
from snuggle.accelerate.utils import set_seed
from snuggle.tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--output-dir", default="runs/clm_tinyshakespeare")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="per process")
    parser.add_argument("--gradient-accumulation-steps", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--num-epochs", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps (overrides epochs)")
    parser.add_argument("--max-train-samples", type=int, default=None, help="blocks of training text to use")
    parser.add_argument("--max-eval-samples", type=int, default=None, help="blocks of validation text to use")
    parser.add_argument("--eval-every", type=int, default=100, help="evaluate every N optimizer steps")
    parser.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def train_tokenizer(text: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 style) trained on `text`, wrapped for save_pretrained / AutoTokenizer."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.splitlines(keepends=True), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def group_texts(ids: list[int], block_size: int, limit: int | None) -> Dataset:
    """Consecutive `block_size` windows of the token stream (the tail that does not fill one is dropped)."""
    n_blocks = len(ids) // block_size
    if limit is not None:
        n_blocks = min(n_blocks, limit)
    blocks = [ids[i * block_size:(i + 1) * block_size] for i in range(n_blocks)]
    # labels = inputs: the model shifts them by one position inside its loss
    return Dataset.from_dict({"input_ids": blocks, "labels": blocks})


@torch.no_grad()
def evaluate(model, eval_dataloader, accelerator) -> tuple[float, float, int]:
    """Mean eval loss over every process's batches, its perplexity, and how many samples it covers."""
    model.eval()
    losses = []
    for batch in eval_dataloader:
        loss = model(**batch).loss
        # one entry per sample, so gather_for_metrics can drop the sampler's padding samples
        losses.append(accelerator.gather_for_metrics(loss.detach().repeat(batch["input_ids"].shape[0])))
    model.train()
    losses = torch.cat(losses)
    eval_loss = losses.mean().item()
    return eval_loss, math.exp(min(eval_loss, 50.0)), losses.numel()


def main(argv=None) -> dict:
    args = parse_args(argv)
    accelerator = Accelerator(gradient_accumulation_steps=args.gradient_accumulation_steps,
                              mixed_precision=args.mixed_precision)
    set_seed(args.seed)

    text = (args.data_dir / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    split = int(0.9 * len(text))
    # Every process trains the same tokenizer (BPE training is deterministic), so nothing has to be shared.
    tokenizer = train_tokenizer(text[:split], args.vocab_size)
    train_ds = group_texts(tokenizer(text[:split])["input_ids"], args.block_size, args.max_train_samples)
    eval_ds = group_texts(tokenizer(text[split:])["input_ids"], args.block_size, args.max_eval_samples)
    accelerator.print(f"vocab {len(tokenizer)}, {len(train_ds)} train / {len(eval_ds)} eval blocks of "
                      f"{args.block_size} tokens, {accelerator.num_processes} process(es)")

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=args.hidden_size,
                         intermediate_size=4 * args.hidden_size, num_hidden_layers=args.num_layers,
                         num_attention_heads=args.num_heads, num_key_value_heads=args.num_heads,
                         max_position_embeddings=args.block_size, tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)

    train_dataloader = DataLoader(train_ds.with_format("torch"), batch_size=args.batch_size, shuffle=True,
                                  collate_fn=default_data_collator)
    eval_dataloader = DataLoader(eval_ds.with_format("torch"), batch_size=args.batch_size,
                                 collate_fn=default_data_collator)

    # no weight decay on norms (1-D weights) - the usual GPT recipe
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=args.learning_rate)

    # optimizer steps per epoch as each process will see them after `prepare` shards the loader
    steps_per_epoch = math.ceil(math.ceil(len(train_dataloader) / accelerator.num_processes)
                                / args.gradient_accumulation_steps)
    max_steps = args.max_steps or args.num_epochs * steps_per_epoch
    num_epochs = math.ceil(max_steps / steps_per_epoch)
    # the prepared scheduler steps once per process per optimizer step, like the reference's
    lr_scheduler = get_scheduler("cosine", optimizer, num_warmup_steps=int(0.05 * max_steps) * accelerator.num_processes,
                                 num_training_steps=max_steps * accelerator.num_processes)

    model, optimizer, train_dataloader, eval_dataloader, lr_scheduler = accelerator.prepare(
        model, optimizer, train_dataloader, eval_dataloader, lr_scheduler)

    completed_steps, last_loss, history = 0, float("nan"), []
    with Stopwatch() as clock:
        for epoch in range(num_epochs):
            model.train()
            for batch in train_dataloader:
                with accelerator.accumulate(model):
                    loss = model(**batch).loss
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    lr_scheduler.step()
                    optimizer.zero_grad()
                if not accelerator.sync_gradients:
                    continue
                completed_steps += 1
                last_loss = loss.item()
                if completed_steps % 10 == 0:
                    accelerator.print(f"step {completed_steps}/{max_steps} loss {last_loss:.4f} "
                                      f"lr {lr_scheduler.get_last_lr()[0]:.2e}")
                if completed_steps % args.eval_every == 0:
                    eval_loss, ppl, _ = evaluate(model, eval_dataloader, accelerator)
                    history.append({"step": completed_steps, "eval_loss": eval_loss, "perplexity": ppl})
                    accelerator.print(f"step {completed_steps}: eval loss {eval_loss:.4f} perplexity {ppl:.2f}")
                if completed_steps >= max_steps:
                    break
            if completed_steps >= max_steps:
                break
        eval_loss, perplexity, eval_samples = evaluate(model, eval_dataloader, accelerator)

    output_dir = Path(args.output_dir)
    # optimizer, scheduler, RNG and weights: `accelerator.load_state` continues from here
    accelerator.save_state(str(output_dir / "state"))
    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    results = {"eval_loss": eval_loss, "perplexity": perplexity, "train_loss": last_loss, "steps": completed_steps,
               "epochs": num_epochs, "num_processes": accelerator.num_processes, "history": history,
               "wall_time_s": round(clock.seconds, 1), "train_blocks": len(train_ds), "eval_blocks": len(eval_ds),
               "eval_samples_gathered": eval_samples}
    if accelerator.is_main_process:
        unwrapped.save_pretrained(output_dir / "model")
        tokenizer.save_pretrained(output_dir / "model")
        write_results(str(output_dir), results)
    accelerator.wait_for_everyone()
    return results


if __name__ == "__main__":
    main()
