"""Trainer: the transformers training loop, written out.

Same constructor, methods, checkpoint files and logs as transformers.Trainer. What differs, on purpose:
- the loss under gradient accumulation is the loss of the whole accumulated batch: each micro-batch's
  mean is weighted by its share of the real label count (or the count goes to a model whose forward
  takes `num_items_in_batch`), so uneven batches and padding do not skew it;
- unused dataset columns are dropped only when no custom collator / compute_loss reads them, and the
  drop is logged once with the names;
- checkpoints are written to tmp-checkpoint-N and renamed when complete (kill -9 safe);
- a NaN/inf loss stops the run with the step number (`stop_on_nan_loss=False` to keep going).

The evaluation side (evaluate, predict, evaluation_loop, prediction_step) is in trainer_eval.py;
checkpoint files in trainer_checkpoint.py; data order and column handling in trainer_data.py.

>>> # trainer = Trainer(model, TrainingArguments("out", max_steps=20), train_dataset=ds, processing_class=tok)
>>> # trainer.train().metrics["train_loss"]
"""

from __future__ import annotations

import contextlib
import inspect
import os
from typing import Any, Callable

import torch
from torch import nn

from snuggle.errors import DataError, TrainingError
from snuggle.training.trainer_callback import (
    CallbackHandler,
    DefaultFlowCallback,
    ExportableState,
    PrinterCallback,
    ProgressCallback,
    TrainerControl,
    TrainerState,
    export_callback_states,
    restore_callback_states,
)
from snuggle.training import trainer_checkpoint as ckpt
from snuggle.training.trainer_data import (
    ColumnFilter,
    EpochBatchSampler,
    check_batch_size,
    collator_keep_columns,
    find_labels,
    row_lengths,
    trim_padding_columns,
)
from snuggle.training.trainer_eval import EvaluationLoop, speed_metrics
from snuggle.training.trainer_utils import (
    TRAINER_STATE_NAME,
    TRAINING_ARGS_NAME,
    SaveStrategy,
    enable_full_determinism,
    set_seed,
)
from snuggle.utils.logging import get_logger, warn_once

logger = get_logger(__name__)


def _unwrap(model: nn.Module) -> nn.Module:
    """The user's model inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) if isinstance(model, nn.parallel.DistributedDataParallel) else None
        inner = inner or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


class Trainer(EvaluationLoop):
    """Train, evaluate and checkpoint a model (the reference's constructor arguments).

    `stop_on_nan_loss` (snuggle only, default True): a NaN/inf training loss raises TrainingError naming
    the step before the optimizer applies it; False keeps training (the loss is then filtered from the
    logs when `logging_nan_inf_filter`, as the reference does).
    `trim_padding` (snuggle only): cut the trailing columns that are padding in every row of a training
    batch before the forward (see trainer_data.trim_padding_columns; same loss and gradients up to
    float rounding, much less compute on data padded to max_length). Default: on for snuggle encoder-only
    or decoder-only models, off for encoder-decoder models and any other nn.Module.
    """

    def __init__(self, model: nn.Module | None = None, args: Any = None, data_collator: Callable | None = None,
                 train_dataset: Any = None, eval_dataset: Any = None, processing_class: Any = None,
                 model_init: Callable | None = None, compute_loss_func: Callable | None = None,
                 compute_metrics: Callable | None = None, callbacks: list | None = None,
                 optimizers: tuple = (None, None), optimizer_cls_and_kwargs: tuple | None = None,
                 preprocess_logits_for_metrics: Callable | None = None, tokenizer: Any = None,
                 stop_on_nan_loss: bool = True, trim_padding: bool | None = None):
        from snuggle.training.training_args import TrainingArguments

        if args is None:
            args = TrainingArguments(output_dir="trainer_output")
            logger.info("no TrainingArguments given: using the defaults with output_dir='trainer_output'")
        self.args = args
        enable_full_determinism(args.seed) if args.full_determinism else set_seed(args.seed)
        if model is None:
            if model_init is None:
                raise TrainingError("Trainer needs a model or a model_init function; got neither")
            model = model_init()
        self.model_init = model_init
        self.model = model
        if processing_class is None and tokenizer is not None:
            processing_class = tokenizer
        self.processing_class = processing_class
        if data_collator is None:
            from snuggle.training.collators import DataCollatorWithPadding, default_data_collator

            has_pad = processing_class is not None and hasattr(processing_class, "pad")
            data_collator = DataCollatorWithPadding(processing_class) if has_pad else default_data_collator
            self._user_collator = False
        else:
            self._user_collator = True
        self.data_collator = data_collator
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.compute_loss_func = compute_loss_func
        self.compute_metrics = compute_metrics
        self.preprocess_logits_for_metrics = preprocess_logits_for_metrics
        self.optimizer, self.lr_scheduler = optimizers
        self.optimizer_cls_and_kwargs = optimizer_cls_and_kwargs
        if self.optimizer is not None and optimizer_cls_and_kwargs is not None:
            raise TrainingError("pass either optimizers=(optimizer, scheduler) or optimizer_cls_and_kwargs, not both")
        self.stop_on_nan_loss = stop_on_nan_loss
        if trim_padding is None:
            from snuggle.models.modeling import PreTrainedModel

            core = _unwrap(model)
            trim_padding = isinstance(core, PreTrainedModel) and not getattr(core.config, "is_encoder_decoder", False)
        self.trim_padding = trim_padding
        self.hub_model_id = None
        if args.push_to_hub:
            self._check_hub()
            from snuggle.hub.trainer_push import init_hf_repo

            if self.is_world_process_zero():
                init_hf_repo(self)

        unwrapped = _unwrap(model)
        self.label_names = list(args.label_names) if args.label_names is not None else find_labels(type(unwrapped))
        params = inspect.signature(unwrapped.forward).parameters
        self.model_accepts_loss_kwargs = bool(getattr(unwrapped, "accepts_loss_kwargs", "num_items_in_batch" in params))
        # Causal LM losses predict label[i+1] at position i: position 0 is never a target, so it is not counted.
        name = type(unwrapped).__name__
        is_causal = name.endswith("ForCausalLM") or name.endswith("LMHeadModel")
        self._loss_shifts_labels = is_causal and not getattr(getattr(unwrapped, "config", None),
                                                             "is_encoder_decoder", False)
        self.can_return_loss = bool(getattr(params.get("return_loss"), "default", False) is True)
        if args.gradient_checkpointing:
            unwrapped.gradient_checkpointing_enable(gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs)

        from snuggle.training.integrations import get_reporting_integration_callbacks

        default = [DefaultFlowCallback] + get_reporting_integration_callbacks(args.report_to)
        default.append(PrinterCallback if args.disable_tqdm else ProgressCallback)
        self.callback_handler = CallbackHandler(default + list(callbacks or []), self.model, processing_class,
                                                self.optimizer, self.lr_scheduler)
        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero(),
                                  stateful_callbacks=[cb for cb in self.callback_handler.callbacks + [TrainerControl()]
                                                      if isinstance(cb, ExportableState)])
        self.control = TrainerControl()
        self.current_flos = 0.0
        self._non_embedding_params: int | None = None
        self._train_batch_size = args.train_batch_size
        self.is_in_train = False
        self.control = self.callback_handler.on_init_end(args, self.state, self.control)

    # ------------------------------------------------------------------ small public API
    @property
    def tokenizer(self):
        return self.processing_class

    def add_callback(self, callback) -> None:
        self.callback_handler.add_callback(callback)

    def pop_callback(self, callback):
        return self.callback_handler.pop_callback(callback)

    def remove_callback(self, callback) -> None:
        self.callback_handler.remove_callback(callback)

    def is_world_process_zero(self) -> bool:
        return self.args.process_index == 0

    def is_local_process_zero(self) -> bool:
        return self.args.local_process_index == 0

    def _check_hub(self):
        try:
            import snuggle.hub  # noqa: F401
        except ImportError as e:
            from snuggle.errors import MissingDependencyError

            raise MissingDependencyError(
                "push_to_hub=True needs the Hub client (snuggle.hub), which arrives with issue 8; set "
                "push_to_hub=False and upload output_dir yourself for now") from e

    def push_to_hub(self, commit_message: str | None = "End of training", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, **kwargs):
        """Save the model to output_dir, write its model card and upload output_dir to hub_model_id
        (see snuggle.hub.trainer_push); kwargs go to create_model_card."""
        self._check_hub()
        from snuggle.hub.trainer_push import push_trainer_to_hub

        return push_trainer_to_hub(self, commit_message=commit_message, blocking=blocking, token=token,
                                   revision=revision, **kwargs)

    def create_model_card(self, **kwargs):
        """Write README.md (hyper-parameters, evaluation results) into output_dir."""
        from snuggle.hub.trainer_push import create_model_card

        return create_model_card(self, **kwargs)

    # ------------------------------------------------------------------ data
    def _column_filter(self) -> ColumnFilter:
        overridden = type(self).compute_loss is not Trainer.compute_loss
        keep = collator_keep_columns(self.data_collator if self._user_collator else None,
                                     type(self).compute_loss if overridden else None)
        if self.compute_loss_func is not None:
            keep |= collator_keep_columns(self.compute_loss_func, None)
        return ColumnFilter(self.model, self.label_names, keep)

    def _dataloader(self, dataset, batch_size: int, shuffle: bool, description: str, drop_last: bool,
                    seed: int = 0):
        from torch.utils.data import DataLoader, IterableDataset

        collator = self.data_collator
        if self.args.remove_unused_columns:
            column_filter = self._column_filter()
            filtered = column_filter.apply(dataset, description)
            if filtered is dataset and not isinstance(getattr(dataset, "column_names", None), list):
                collator = column_filter.wrap_collator(collator, description)
            dataset = filtered
        args = self.args
        common = dict(collate_fn=collator, num_workers=args.dataloader_num_workers,
                      pin_memory=args.dataloader_pin_memory and args.device.type == "cuda",
                      persistent_workers=args.dataloader_persistent_workers and args.dataloader_num_workers > 0)
        if args.dataloader_num_workers > 0 and args.dataloader_prefetch_factor is not None:
            common["prefetch_factor"] = args.dataloader_prefetch_factor
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            return DataLoader(dataset, batch_size=batch_size, drop_last=drop_last, **common)
        argument = "per_device_train_batch_size" if description == "train" else "per_device_eval_batch_size"
        check_batch_size(len(dataset), batch_size, description, argument, drop_last)
        lengths = None
        if shuffle and args.group_by_length:
            lengths = row_lengths(dataset, args.length_column_name)
        sampler = EpochBatchSampler(len(dataset), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last,
                                    num_processes=args.world_size, process_index=args.process_index,
                                    lengths=lengths,
                                    # the reference groups an optimizer step's rows: batch x accumulation
                                    length_group_size=batch_size * args.gradient_accumulation_steps * args.world_size)
        # The loader draws its worker base seed from this generator, not from the global RNG, so that
        # creating an epoch iterator does not shift the dropout stream (resume restores that stream).
        generator = torch.Generator()
        generator.manual_seed(seed)
        return DataLoader(dataset, batch_sampler=sampler, generator=generator, **common)

    def get_train_dataloader(self):
        if self.train_dataset is None:
            raise TrainingError("Trainer.train() needs a train_dataset; pass train_dataset=... to Trainer")
        args = self.args
        seed = args.data_seed if args.data_seed is not None else args.seed
        return self._dataloader(self.train_dataset, self._train_batch_size, True, "train", args.dataloader_drop_last,
                                seed)

    def get_eval_dataloader(self, eval_dataset=None):
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_dataset[eval_dataset]
        eval_dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if eval_dataset is None:
            raise TrainingError("evaluate() needs an eval_dataset; pass eval_dataset=... to Trainer or evaluate()")
        return self._dataloader(eval_dataset, self.args.eval_batch_size, False, "evaluation",
                                self.args.dataloader_drop_last)

    def get_test_dataloader(self, test_dataset):
        return self._dataloader(test_dataset, self.args.eval_batch_size, False, "test", self.args.dataloader_drop_last)

    def _prepare_inputs(self, inputs: dict) -> dict:
        device = self.args.device
        if device.type == "cpu":
            return inputs  # collators build CPU tensors already: no copies
        from snuggle.accelerate.operations import send_to_device

        return send_to_device(inputs, device)

    # ------------------------------------------------------------------ optimizer and scheduler
    def create_optimizer(self):
        if self.optimizer is None:
            if self.optimizer_cls_and_kwargs is not None:
                from snuggle.training.optimization import get_decay_parameter_names

                cls, kwargs = self.optimizer_cls_and_kwargs
                model = _unwrap(self.model)
                decay = set(get_decay_parameter_names(model))
                named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
                groups = [{"params": [p for n, p in named if n in decay], "weight_decay": self.args.weight_decay},
                          {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0}]
                self.optimizer = cls(groups, **kwargs)
            else:
                from snuggle.training.optimization import create_optimizer

                self.optimizer = create_optimizer(_unwrap(self.model), self.args)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            from snuggle.training.optimization import create_scheduler

            args = self.args
            self.lr_scheduler = create_scheduler(args, optimizer or self.optimizer, num_training_steps)
        return self.lr_scheduler

    def create_optimizer_and_scheduler(self, num_training_steps: int) -> None:
        self.create_optimizer()
        self.create_scheduler(num_training_steps, self.optimizer)

    def _get_learning_rate(self) -> float:
        return self.lr_scheduler.get_last_lr()[0]

    # ------------------------------------------------------------------ loss
    def compute_loss_context_manager(self):
        if self.args.bf16 or self.args.fp16:
            dtype = torch.bfloat16 if self.args.bf16 else torch.float16
            return torch.autocast(device_type=self.args.device.type, dtype=dtype)
        return contextlib.nullcontext()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """Loss of one micro-batch, already scaled for gradient accumulation when `num_items_in_batch`
        (labels of the whole accumulated batch) is given: a model that takes it divides its summed loss by
        it; for any other model the micro-batch mean is weighted by (its label count / num_items_in_batch).
        """
        labels = None
        if self.compute_loss_func is not None and "labels" in inputs:
            labels = inputs.pop("labels")
        if self.model_accepts_loss_kwargs and num_items_in_batch is not None:
            inputs = {**inputs, "num_items_in_batch": num_items_in_batch}
        outputs = model(**inputs)
        if labels is not None:
            loss = self.compute_loss_func(outputs, labels, num_items_in_batch=num_items_in_batch)
        else:
            if isinstance(outputs, dict) and "loss" not in outputs:
                raise TrainingError(
                    f"{type(_unwrap(model)).__name__} returned no loss (keys: {', '.join(outputs.keys())}); the batch "
                    f"needs labels ({', '.join(self.label_names) or 'none found in forward'}) or override compute_loss")
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
            if loss is None:
                raise TrainingError("the model returned loss=None: the batch has no labels; check label_names and "
                                    "that the dataset has a 'label'/'labels' column")
            if num_items_in_batch is not None and not self.model_accepts_loss_kwargs:
                loss = loss * (self._label_count(inputs) / num_items_in_batch)
        if num_items_in_batch is not None and self.args.world_size > 1 and self.args.average_tokens_across_devices:
            loss = loss * self.args.world_size  # DDP averages gradients; the count is already global
        return (loss, outputs) if return_outputs else loss

    def get_batch_samples(self, epoch_iterator, num_batches: int, device=None):
        """Next `num_batches` batches and their total label count (tensor; None without 'labels')."""
        batches = []
        for _ in range(num_batches):
            try:
                batches.append(next(epoch_iterator))
            except StopIteration:
                break
        num_items = None
        if batches and all(isinstance(b, dict) and torch.is_tensor(b.get("labels")) for b in batches):
            num_items = sum(self._label_count(b) for b in batches)
            if self.args.world_size > 1 and self.args.average_tokens_across_devices:
                from snuggle.accelerate.operations import gather

                num_items = gather(num_items.reshape(1)).sum()
        return batches, num_items

    def _label_count(self, batch: dict) -> torch.Tensor:
        """Labels of `batch` the loss averages over (-100 excluded; shifted for causal LMs)."""
        if torch.is_tensor(batch.get("shift_labels")):
            return batch["shift_labels"].ne(-100).sum()
        labels = batch["labels"]
        return (labels[..., 1:] if self._loss_shifts_labels else labels).ne(-100).sum()

    def _default_loss_is_scaled(self) -> bool:
        return type(self).compute_loss is Trainer.compute_loss or self.compute_loss_func is not None

    def training_step(self, model, inputs, num_items_in_batch=None):
        model.train()
        inputs = self._prepare_inputs(inputs)
        if self.trim_padding:
            inputs = trim_padding_columns(inputs)
        try:
            with self.compute_loss_context_manager():
                loss = self.compute_loss(model, inputs, num_items_in_batch=num_items_in_batch)
        except (IndexError, RuntimeError) as e:
            self._explain_label_error(inputs, e)
            raise
        if num_items_in_batch is None or not (self._default_loss_is_scaled() or self.model_accepts_loss_kwargs):
            loss = loss / self._current_accumulation
        loss.backward()
        return loss.detach()

    def _explain_label_error(self, inputs, error: Exception) -> None:
        """Turn torch's 'Target 7 is out of bounds' into a message naming the labels and num_labels."""
        config = getattr(_unwrap(self.model), "config", None)
        num_labels = getattr(config, "num_labels", None)
        labels = inputs.get("labels") if isinstance(inputs, dict) else None
        if num_labels is None or not torch.is_tensor(labels) or labels.is_floating_point():
            return
        valid = labels[labels != -100]
        bad = valid[(valid < 0) | (valid >= num_labels)]
        if "out of bounds" in str(error) or bad.numel():
            if bad.numel() == 0:
                return  # a token-level head (vocab-sized) failed for another reason
            raise DataError(
                f"labels {sorted(set(bad.tolist()))[:10]} are outside 0..{num_labels - 1} (config.num_labels="
                f"{num_labels}); load the model with num_labels=<number of classes> or remap the labels") from error

    def floating_point_ops(self, inputs: dict) -> float:
        """6 x tokens x non-embedding parameters, the reference's estimate (the count is cached)."""
        if self._non_embedding_params is None:
            model = _unwrap(self.model)
            counter = getattr(model, "num_parameters", None)
            self._non_embedding_params = counter(exclude_embeddings=True) if counter else 0
        name = getattr(_unwrap(self.model), "main_input_name", "input_ids")
        tensor = inputs.get(name) if isinstance(inputs, dict) else None
        return 6.0 * tensor.numel() * self._non_embedding_params if torch.is_tensor(tensor) else 0.0

    # ------------------------------------------------------------------ training
    def train(self, resume_from_checkpoint: str | bool | None = None, trial=None, ignore_keys_for_eval=None,
              **kwargs):
        from snuggle.training.trainer_loop import run_training

        if kwargs:
            raise TypeError(f"Trainer.train() got unexpected keyword arguments {sorted(kwargs)}")
        if resume_from_checkpoint is None and self.args.resume_from_checkpoint:
            resume_from_checkpoint = self.args.resume_from_checkpoint
        checkpoint = ckpt.resolve_resume_checkpoint(resume_from_checkpoint, self.args.output_dir)
        if self.model_init is not None and self.state.global_step:
            # a second train() with model_init starts from a fresh model (and optimizer), as the reference does
            set_seed(self.args.seed)
            self.model = self.model_init()
            self.optimizer = self.lr_scheduler = None
        if checkpoint is not None:
            ckpt.load_model_weights(_unwrap(self.model), checkpoint)
        self.is_in_train = True
        try:
            return run_training(self, checkpoint, ignore_keys_for_eval)
        finally:
            self.is_in_train = False

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add `logs` (+ epoch, step) to state.log_history and tell the callbacks."""
        if self.state.epoch is not None:
            logs["epoch"] = self.state.epoch
        if self.args.include_num_input_tokens_seen not in ("no", False, None):
            logs["num_input_tokens_seen"] = self.state.num_input_tokens_seen
            if start_time is not None:
                logs.update(speed_metrics("train", start_time, num_tokens=self.state.num_input_tokens_seen))
        self.state.log_history.append({**logs, "step": self.state.global_step})
        self.control = self.callback_handler.on_log(self.args, self.state, self.control, logs)

    def store_flos(self) -> None:
        if self.args.world_size > 1:
            from snuggle.accelerate.operations import reduce

            self.state.total_flos += reduce(torch.tensor(self.current_flos, dtype=torch.float64),
                                            reduction="sum").item()
        else:
            self.state.total_flos += self.current_flos
        self.current_flos = 0.0

    # ------------------------------------------------------------------ saving
    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        """Weights + config (save_pretrained), the processing class and training_args.bin, rank 0 only."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        model = _unwrap(self.model)
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(output_dir, safe_serialization=self.args.save_safetensors)
        else:
            from safetensors.torch import save_file

            warn_once(logger, f"{type(model).__name__} has no save_pretrained: saving its state_dict only")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                      os.path.join(output_dir, "model.safetensors"), metadata={"format": "pt"})
        if self.processing_class is not None and hasattr(self.processing_class, "save_pretrained"):
            self.processing_class.save_pretrained(output_dir)
        torch.save(self.args, os.path.join(output_dir, TRAINING_ARGS_NAME))
        if self.args.push_to_hub and not _internal_call:
            self.push_to_hub(commit_message="Model save", revision=self.args.hub_revision)

    def _save_checkpoint(self, model=None, trial=None) -> None:
        """checkpoint-<global_step>/ written to a temp folder and renamed; then older ones rotated."""
        args, step = self.args, self.state.global_step
        run_dir = args.output_dir
        final = os.path.join(run_dir, ckpt.checkpoint_name(step))
        tmp = ckpt.tmp_checkpoint_dir(run_dir, step)
        distributed = args.world_size > 1
        if args.should_save:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
        if distributed:
            args.distributed_state.wait_for_everyone()
        try:
            self.save_model(tmp, _internal_call=True)
            if self.state.best_global_step:
                best = os.path.join(run_dir, ckpt.checkpoint_name(self.state.best_global_step))
                if os.path.exists(best) or self.state.best_global_step == step:
                    self.state.best_model_checkpoint = best
            if not args.save_only_model:
                if args.should_save:
                    ckpt.save_optimizer_and_scheduler(tmp, self.optimizer, self.lr_scheduler)
                ckpt.save_rng_state(tmp, args.process_index, args.world_size)
            if args.should_save:
                stateful = [cb for cb in self.callback_handler.callbacks + [self.control]
                            if isinstance(cb, ExportableState)]
                self.state.stateful_callbacks = export_callback_states(stateful)
                self.state.save_to_json(os.path.join(tmp, TRAINER_STATE_NAME))
        except BaseException:
            if args.should_save:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            raise
        if distributed:
            args.distributed_state.wait_for_everyone()
        if args.should_save:
            ckpt.publish_checkpoint(tmp, final)
            ckpt.rotate_checkpoints(run_dir, args.save_total_limit, self.state.best_model_checkpoint)
            if args.push_to_hub:
                from snuggle.hub.trainer_push import push_from_checkpoint

                push_from_checkpoint(self, final)
        if distributed:
            args.distributed_state.wait_for_everyone()

    def save_state(self) -> None:
        """trainer_state.json in output_dir (the reference's helper)."""
        if self.args.should_save:
            self.state.save_to_json(os.path.join(self.args.output_dir, TRAINER_STATE_NAME))

    def _load_trainer_state(self, checkpoint: str) -> None:
        self.state = TrainerState.load_from_json(os.path.join(checkpoint, TRAINER_STATE_NAME))
        if self.args.restore_callback_states_from_checkpoint and self.state.stateful_callbacks:
            callbacks, missing = restore_callback_states(self.state.stateful_callbacks,
                                                         self.callback_handler.callbacks)
            self.callback_handler.callbacks = callbacks
            if missing:
                logger.warning(f"{checkpoint}: saved callback state for {missing} has no matching callback")
            control = self.state.stateful_callbacks.get("TrainerControl")
            if isinstance(control, dict):
                self.control = TrainerControl.from_state(control)

    def _load_best_model(self) -> None:
        best = self.state.best_model_checkpoint
        logger.info(f"Loading best model from {best} (score: {self.state.best_metric}).")
        ckpt.load_model_weights(_unwrap(self.model), best)

    def _determine_best_metric(self, metrics: dict) -> bool:
        name = self.args.metric_for_best_model
        if name is None:
            return False
        key = name if name.startswith("eval_") else f"eval_{name}"
        if key not in metrics:
            raise TrainingError(f"metric_for_best_model={name!r}: {key!r} is not among the evaluation metrics "
                                f"{sorted(metrics)}; pick one of those (compute_metrics decides the names)")
        value = metrics[key]
        better = self.args.greater_is_better
        if self.state.best_metric is None:
            self.state.best_metric = float("-inf") if better else float("inf")
        if (value > self.state.best_metric) if better else (value < self.state.best_metric):
            self.state.best_metric = value
            if self.args.save_strategy in (SaveStrategy.STEPS, SaveStrategy.EPOCH, SaveStrategy.BEST):
                self.state.best_global_step = self.state.global_step
            return True
        return False

    def _evaluate_during_training(self, ignore_keys=None) -> dict:
        metrics = self.evaluate(ignore_keys=ignore_keys)
        if isinstance(self.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            name = self.args.metric_for_best_model or "loss"
            self.lr_scheduler.step(metrics[name if name.startswith("eval_") else f"eval_{name}"])
        return metrics

