"""Training utilities (the transformers Trainer side). Importing this package is cheap: no torch.

Names are loaded on first access (PEP 562), e.g. `from snuggle.training import DataCollatorWithPadding`.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports

_LAZY = {
    "DataCollatorWithPadding": "snuggle.training.collators",
    "DataCollatorForLanguageModeling": "snuggle.training.collators",
    "DataCollatorForSeq2Seq": "snuggle.training.collators",
    "DataCollatorForTokenClassification": "snuggle.training.collators",
    "DefaultDataCollator": "snuggle.training.collators",
    "default_data_collator": "snuggle.training.collators",
    "Trainer": "snuggle.training.trainer",
    "TrainingArguments": "snuggle.training.training_args",
    "Seq2SeqTrainingArguments": "snuggle.training.training_args",
    "ParallelMode": "snuggle.training.training_args",
    "get_scheduler": "snuggle.training.optimization",
    "create_optimizer": "snuggle.training.optimization",
    "create_scheduler": "snuggle.training.optimization",
    "get_optimizer_cls_and_kwargs": "snuggle.training.optimization",
    "Adafactor": "snuggle.training.optimization",
    "AdafactorSchedule": "snuggle.training.optimization",
    "get_adafactor_schedule": "snuggle.training.optimization",
    "get_constant_schedule": "snuggle.training.optimization",
    "get_constant_schedule_with_warmup": "snuggle.training.optimization",
    "get_linear_schedule_with_warmup": "snuggle.training.optimization",
    "get_cosine_schedule_with_warmup": "snuggle.training.optimization",
    "get_cosine_with_hard_restarts_schedule_with_warmup": "snuggle.training.optimization",
    "get_polynomial_decay_schedule_with_warmup": "snuggle.training.optimization",
    "get_inverse_sqrt_schedule": "snuggle.training.optimization",
    "get_reduce_on_plateau_schedule": "snuggle.training.optimization",
    "get_cosine_with_min_lr_schedule_with_warmup": "snuggle.training.optimization",
    "get_wsd_schedule": "snuggle.training.optimization",
    "get_parameter_names": "snuggle.training.optimization",
    "get_decay_parameter_names": "snuggle.training.optimization",
    "HubStrategy": "snuggle.training.trainer_utils",
    "IntervalStrategy": "snuggle.training.trainer_utils",
    "SaveStrategy": "snuggle.training.trainer_utils",
    "SchedulerType": "snuggle.training.trainer_utils",
    "OptimizerNames": "snuggle.training.trainer_utils",
    "EvalPrediction": "snuggle.training.trainer_utils",
    "EvalLoopOutput": "snuggle.training.trainer_utils",
    "PredictionOutput": "snuggle.training.trainer_utils",
    "TrainOutput": "snuggle.training.trainer_utils",
    "set_seed": "snuggle.training.trainer_utils",
    "enable_full_determinism": "snuggle.training.trainer_utils",
    "get_last_checkpoint": "snuggle.training.trainer_utils",
    "PREFIX_CHECKPOINT_DIR": "snuggle.training.trainer_utils",
    "TrainerState": "snuggle.training.trainer_callback",
    "TrainerControl": "snuggle.training.trainer_callback",
    "TrainerCallback": "snuggle.training.trainer_callback",
    "CallbackHandler": "snuggle.training.trainer_callback",
    "DefaultFlowCallback": "snuggle.training.trainer_callback",
    "ProgressCallback": "snuggle.training.trainer_callback",
    "PrinterCallback": "snuggle.training.trainer_callback",
    "EarlyStoppingCallback": "snuggle.training.trainer_callback",
    "ExportableState": "snuggle.training.trainer_callback",
    "TensorBoardCallback": "snuggle.training.integrations",
    "JsonlLoggerCallback": "snuggle.training.integrations",
    "get_reporting_integration_callbacks": "snuggle.training.integrations",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("snuggle.training", _LAZY, globals())
