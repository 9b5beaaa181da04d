"""The Trainer's training loop, written out top to bottom (`Trainer.train` calls `run_training`).

One optimizer step ("update") consumes `gradient_accumulation_steps` batches (fewer for the last one
of an epoch). Their total label count is taken before the first forward so that every micro-batch's
loss is scaled by its share of it: the accumulated gradient is the gradient of the full batch's loss.

Resume: the model weights are loaded by `Trainer.train`; here the trainer state, optimizer,
scheduler and RNG state come back, and the sampler skips the batches of the current epoch that were
already trained on (they are never loaded), so 10 steps + resume + 10 steps equals 20 steps.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import time

import torch
from torch import nn

from snuggle.errors import TrainingError
from snuggle.training import trainer_checkpoint as ckpt
from snuggle.training.trainer_callback import ExportableState, TrainerState
from snuggle.training.trainer_data import EpochBatchSampler
from snuggle.training.trainer_eval import speed_metrics
from snuggle.training.trainer_utils import SaveStrategy, TrainOutput, sorted_checkpoints
from snuggle.utils.logging import get_logger

logger = get_logger(__name__)


def _wrap_model(trainer) -> nn.Module:
    """DDP under several processes (gloo on CPU), torch.compile when asked; the bare model otherwise."""
    args = trainer.args
    model = trainer.model
    if args.torch_compile and not hasattr(model, "_orig_mod"):
        kwargs = {k: v for k, v in (("backend", args.torch_compile_backend), ("mode", args.torch_compile_mode)) if v}
        model = torch.compile(model, **kwargs)
    if args.world_size > 1:
        args.distributed_state  # noqa: B018 - makes sure the process group exists
        kwargs = {"find_unused_parameters": bool(args.ddp_find_unused_parameters)}
        if args.ddp_bucket_cap_mb is not None:
            kwargs["bucket_cap_mb"] = args.ddp_bucket_cap_mb
        if args.ddp_broadcast_buffers is not None:
            kwargs["broadcast_buffers"] = args.ddp_broadcast_buffers
        model = nn.parallel.DistributedDataParallel(model, **kwargs)
        if args.ddp_static_graph:
            model._set_static_graph()
    return model


def _count_input_tokens(trainer, inputs) -> int:
    mode = trainer.args.include_num_input_tokens_seen
    name = getattr(trainer.model, "main_input_name", "input_ids")
    ids = inputs.get(name) if isinstance(inputs, dict) else None
    if not torch.is_tensor(ids):
        return 0
    if mode == "non_padding":
        mask = inputs.get("attention_mask")
        if torch.is_tensor(mask):
            return int(mask.sum())
        pad = getattr(trainer.processing_class, "pad_token_id", None)
        if pad is not None:
            return int((ids != pad).sum())
    return ids.numel()


def _prior_loss_total(log_history: list[dict]) -> float:
    """Sum of per-step training losses logged before a resume (so train_loss covers the whole run)."""
    total, last_step = 0.0, 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += entry["loss"] * (entry["step"] - last_step)
            last_step = entry["step"]
    return total


def run_training(trainer, checkpoint: str | None, ignore_keys_for_eval=None) -> TrainOutput:
    args = trainer.args
    trainer._train_batch_size = args.train_batch_size
    dataloader = trainer.get_train_dataloader()
    accumulation = args.gradient_accumulation_steps
    total_batch_size = trainer._train_batch_size * accumulation * args.world_size
    has_length = isinstance(dataloader.batch_sampler, EpochBatchSampler)
    if has_length:
        batches_per_epoch = len(dataloader)
        updates_per_epoch = max(math.ceil(batches_per_epoch / accumulation), 1)
        num_examples = len(dataloader.dataset)
        if args.max_steps > 0:
            max_steps = args.max_steps
            num_train_epochs = math.ceil(max_steps / updates_per_epoch)
            num_train_samples = max_steps * total_batch_size
        else:
            max_steps = math.ceil(args.num_train_epochs * updates_per_epoch)
            num_train_epochs = math.ceil(args.num_train_epochs)
            num_train_samples = num_examples * args.num_train_epochs
    elif args.max_steps > 0:
        batches_per_epoch = args.max_steps * accumulation
        updates_per_epoch = args.max_steps
        max_steps, num_train_epochs = args.max_steps, sys.maxsize
        num_examples = num_train_samples = max_steps * total_batch_size
    else:
        raise TrainingError("the train dataset has no length (an iterable dataset): set max_steps to say how "
                            "many optimizer steps to train")

    trainer.state = TrainerState(stateful_callbacks=[cb for cb in trainer.callback_handler.callbacks
                                                     + [trainer.control] if isinstance(cb, ExportableState)])
    trainer.state.train_batch_size = trainer._train_batch_size
    trainer.state.compute_steps(args, max_steps)
    model = _wrap_model(trainer)
    trainer.model_wrapped = model
    trainer.create_optimizer_and_scheduler(num_training_steps=max_steps)
    trainer.state.init_training_references(trainer, max_steps, num_train_epochs, None)

    epochs_trained, updates_to_skip = 0, 0
    prior_loss = 0.0
    if checkpoint is not None:
        trainer._load_trainer_state(checkpoint)
        ckpt.load_optimizer_and_scheduler(checkpoint, trainer.optimizer, trainer.lr_scheduler)
        epochs_trained = trainer.state.global_step // updates_per_epoch
        if not args.ignore_data_skip:
            updates_to_skip = trainer.state.global_step % updates_per_epoch
        prior_loss = _prior_loss_total(trainer.state.log_history)
        logger.info(f"resuming from {checkpoint}: step {trainer.state.global_step}, epoch {epochs_trained}, "
                    f"skipping {updates_to_skip * accumulation} batches of that epoch")
    handler = trainer.callback_handler
    handler.model, handler.optimizer, handler.lr_scheduler = trainer.model, trainer.optimizer, trainer.lr_scheduler
    handler.train_dataloader = dataloader
    trainer.state.init_training_references(trainer, max_steps, num_train_epochs, None)
    trainer.state.is_local_process_zero = trainer.is_local_process_zero()
    trainer.state.is_world_process_zero = trainer.is_world_process_zero()

    tr_loss = torch.zeros((), device=args.device)
    trainer._total_loss_scalar = prior_loss
    trainer._globalstep_last_logged = trainer.state.global_step
    model.zero_grad()
    grad_norm = learning_rate = None
    start_time = time.time()
    trainer.control = handler.on_train_begin(args, trainer.state, trainer.control)
    if args.eval_on_start:
        trainer._evaluate_during_training(ignore_keys_for_eval)

    sampler = dataloader.batch_sampler if has_length else None
    rng_pending = checkpoint is not None
    stop_on_nan = trainer.stop_on_nan_loss
    trained_any = False
    for epoch in range(epochs_trained, num_train_epochs):
        skip = updates_to_skip if epoch == epochs_trained else 0
        if sampler is not None:
            sampler.set_epoch(epoch)
            sampler.skip_batches = skip * accumulation
        if rng_pending:
            ckpt.load_rng_state(checkpoint, args.process_index, args.world_size)
            rng_pending = False
        iterator = iter(dataloader)
        trainer.control = handler.on_epoch_begin(args, trainer.state, trainer.control)
        for update in range(skip, updates_per_epoch):
            first_batch = update * accumulation
            wanted = min(accumulation, batches_per_epoch - first_batch)
            batches, num_items = trainer.get_batch_samples(iterator, wanted, args.device)
            if not batches:
                break
            trainer._current_accumulation = len(batches)
            trainer.control = handler.on_step_begin(args, trainer.state, trainer.control)
            step_loss = None
            for i, inputs in enumerate(batches):
                if args.include_num_input_tokens_seen not in ("no", False, None):
                    tokens = _count_input_tokens(trainer, inputs)
                    if args.world_size > 1:
                        from snuggle.accelerate.operations import reduce

                        tokens = int(reduce(torch.tensor(tokens), reduction="sum"))
                    trainer.state.num_input_tokens_seen += tokens
                last = i == len(batches) - 1
                sync = model.no_sync() if (args.world_size > 1 and not last) else _null()
                with sync:
                    loss = trainer.training_step(model, inputs, num_items)
                if not stop_on_nan and args.logging_nan_inf_filter and not bool(torch.isfinite(loss)):
                    # the reference's filter: count the step as the average of the logged ones so far
                    tr_loss += tr_loss / (1 + trainer.state.global_step - trainer._globalstep_last_logged)
                else:
                    tr_loss += loss
                step_loss = loss if step_loss is None else step_loss + loss
                trainer.current_flos += trainer.floating_point_ops(inputs)
                if not last:
                    trainer.control = handler.on_substep_end(args, trainer.state, trainer.control)
            trained_any = True
            if stop_on_nan and not bool(torch.isfinite(step_loss)):
                raise TrainingError(
                    f"training loss is {float(step_loss)} at step {trainer.state.global_step + 1} (epoch {epoch}): "
                    "the weights were not updated with it. Lower learning_rate, check the inputs/labels of that "
                    "step, use bf16 instead of fp16, or pass stop_on_nan_loss=False to Trainer to keep going")
            if args.max_grad_norm is not None and args.max_grad_norm > 0:
                grad_norm = nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            trainer.control = handler.on_pre_optimizer_step(args, trainer.state, trainer.control)
            trainer.optimizer.step()
            trainer.control = handler.on_optimizer_step(args, trainer.state, trainer.control)
            learning_rate = trainer._get_learning_rate()
            if not isinstance(trainer.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                trainer.lr_scheduler.step()
            model.zero_grad(set_to_none=True)
            trainer.state.global_step += 1
            trainer.state.epoch = epoch + (first_batch + len(batches)) / batches_per_epoch
            trainer.control = handler.on_step_end(args, trainer.state, trainer.control)
            maybe_log_save_evaluate(trainer, tr_loss, grad_norm, model, ignore_keys_for_eval, start_time,
                                    learning_rate)
            if trainer.control.should_epoch_stop or trainer.control.should_training_stop:
                break
        if not trained_any:
            logger.warning(f"there seems not to be a single sample in the training data at epoch {epoch}; "
                           f"stopping at step {trainer.state.global_step}")
            trainer.control.should_training_stop = True
        trainer.control = handler.on_epoch_end(args, trainer.state, trainer.control)
        maybe_log_save_evaluate(trainer, tr_loss, grad_norm, model, ignore_keys_for_eval, start_time, learning_rate)
        if trainer.control.should_training_stop:
            break

    if args.load_best_model_at_end and trainer.state.best_model_checkpoint is not None:
        if args.world_size > 1:
            args.distributed_state.wait_for_everyone()
        trainer._load_best_model()
    trainer._total_loss_scalar += float(_mean_across_processes(tr_loss, args))
    train_loss = trainer._total_loss_scalar / max(trainer.state.global_step, 0.001)
    metrics = speed_metrics("train", start_time, num_samples=num_train_samples, num_steps=max_steps,
                            num_tokens=trainer.state.num_input_tokens_seen
                            if args.include_num_input_tokens_seen not in ("no", False, None) else None)
    trainer.store_flos()
    metrics["total_flos"] = trainer.state.total_flos
    metrics["train_loss"] = train_loss
    trainer.log(dict(metrics))  # callbacks may pop keys (PrinterCallback drops total_flos)
    if args.should_save and trainer.state.best_model_checkpoint is not None and args.save_total_limit == 1:
        for folder in sorted_checkpoints(args.output_dir):
            if os.path.exists(trainer.state.best_model_checkpoint) and \
                    not os.path.samefile(folder, trainer.state.best_model_checkpoint):
                shutil.rmtree(folder, ignore_errors=True)
    trainer.control = handler.on_train_end(args, trainer.state, trainer.control)
    return TrainOutput(trainer.state.global_step, train_loss, metrics)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _mean_across_processes(value: torch.Tensor, args) -> torch.Tensor:
    if args.world_size > 1:
        from snuggle.accelerate.operations import gather

        return gather(value.detach().reshape(1)).mean()
    return value


def maybe_log_save_evaluate(trainer, tr_loss, grad_norm, model, ignore_keys, start_time, learning_rate) -> None:
    """Act on the control flags the callbacks set for this step: log, evaluate, save (in that order)."""
    args, state, control = trainer.args, trainer.state, trainer.control
    if control.should_log and state.global_step > trainer._globalstep_last_logged:
        loss_scalar = float(_mean_across_processes(tr_loss, args))
        tr_loss.zero_()
        logs: dict[str, float] = {"loss": loss_scalar / (state.global_step - trainer._globalstep_last_logged)}
        if grad_norm is not None:
            logs["grad_norm"] = float(grad_norm) if torch.is_tensor(grad_norm) else grad_norm
        logs["learning_rate"] = learning_rate if learning_rate is not None else trainer._get_learning_rate()
        trainer._total_loss_scalar += loss_scalar
        trainer._globalstep_last_logged = state.global_step
        trainer.store_flos()
        trainer.log(logs, start_time)
    if control.should_evaluate:
        metrics = trainer._evaluate_during_training(ignore_keys)
        is_best = trainer._determine_best_metric(metrics)
        if args.save_strategy == SaveStrategy.BEST:
            control.should_save = is_best
    if control.should_save:
        trainer._save_checkpoint(model)
        trainer.control = trainer.callback_handler.on_save(args, state, trainer.control)
