"""snuggle.pipelines: `pipeline(task, model=...)` as in transformers, and a registry for user tasks.

Importing this package is light: task modules (and torch) load when a pipeline is built.

>>> from snuggle.pipelines import pipeline                                  # doctest: +SKIP
>>> clf = pipeline("sentiment-analysis", model="./minilm-clf")             # doctest: +SKIP
>>> clf(["good", "bad"], batch_size=2)                                      # doctest: +SKIP

User tasks: subclass `Pipeline` and register it.

>>> PIPELINE_REGISTRY.register_pipeline("shout", pipeline_class=Shout,   # doctest: +SKIP
...                                     pt_model="AutoModelForSequenceClassification")
>>> pipeline("shout", model="./minilm-clf")                              # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import importlib
import os

from snuggle.pipelines.base import KeyDataset, Pipeline, PipelineError, _resolve_dtype
from snuggle.utils.lazy import gc_paused

__all__ = [
    "PIPELINE_REGISTRY",
    "FeatureExtractionPipeline",
    "FillMaskPipeline",
    "KeyDataset",
    "NerPipeline",
    "Pipeline",
    "PipelineError",
    "PipelineRegistry",
    "QuestionAnsweringPipeline",
    "SummarizationPipeline",
    "Text2TextGenerationPipeline",
    "TextClassificationPipeline",
    "TextGenerationPipeline",
    "TokenClassificationPipeline",
    "TranslationPipeline",
    "ZeroShotClassificationPipeline",
    "pipeline",
    "register_pipeline",
]

# task -> (module.ClassName, Auto model class names tried in order)
_BUILTIN_TASKS = {
    "text-classification": ("snuggle.pipelines.text_classification.TextClassificationPipeline",
                            ("AutoModelForSequenceClassification",)),
    "feature-extraction": ("snuggle.pipelines.feature_extraction.FeatureExtractionPipeline", ("AutoModel",)),
    "fill-mask": ("snuggle.pipelines.fill_mask.FillMaskPipeline", ("AutoModelForMaskedLM",)),
    "token-classification": ("snuggle.pipelines.token_classification.TokenClassificationPipeline",
                             ("AutoModelForTokenClassification",)),
    "question-answering": ("snuggle.pipelines.question_answering.QuestionAnsweringPipeline",
                           ("AutoModelForQuestionAnswering",)),
    "zero-shot-classification": ("snuggle.pipelines.zero_shot_classification.ZeroShotClassificationPipeline",
                                 ("AutoModelForSequenceClassification",)),
    "text-generation": ("snuggle.pipelines.text_generation.TextGenerationPipeline", ("AutoModelForCausalLM",)),
    "text2text-generation": ("snuggle.pipelines.text2text_generation.Text2TextGenerationPipeline",
                             ("AutoModelForSeq2SeqLM",)),
    "summarization": ("snuggle.pipelines.text2text_generation.SummarizationPipeline", ("AutoModelForSeq2SeqLM",)),
    "translation": ("snuggle.pipelines.text2text_generation.TranslationPipeline", ("AutoModelForSeq2SeqLM",)),
}
TASK_ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}

_LAZY_CLASSES = {
    "TextClassificationPipeline": "snuggle.pipelines.text_classification",
    "FeatureExtractionPipeline": "snuggle.pipelines.feature_extraction",
    "FillMaskPipeline": "snuggle.pipelines.fill_mask",
    "TokenClassificationPipeline": "snuggle.pipelines.token_classification",
    "NerPipeline": "snuggle.pipelines.token_classification",
    "QuestionAnsweringPipeline": "snuggle.pipelines.question_answering",
    "ZeroShotClassificationPipeline": "snuggle.pipelines.zero_shot_classification",
    "TextGenerationPipeline": "snuggle.pipelines.text_generation",
    "Text2TextGenerationPipeline": "snuggle.pipelines.text2text_generation",
    "SummarizationPipeline": "snuggle.pipelines.text2text_generation",
    "TranslationPipeline": "snuggle.pipelines.text2text_generation",
}


def __getattr__(name):
    if name in _LAZY_CLASSES:
        return getattr(importlib.import_module(_LAZY_CLASSES[name]), name)
    raise AttributeError(f"module 'snuggle.pipelines' has no attribute {name!r}")


def _import_dotted(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class PipelineRegistry:
    """Task name -> (pipeline class, model classes, default kwargs). Holds the built-in and user tasks."""

    def __init__(self, tasks: dict, aliases: dict):
        self.tasks = {name: {"impl": impl, "pt": tuple(models), "default": None, "type": "text"}
                      for name, (impl, models) in tasks.items()}
        self.aliases = dict(aliases)

    def get_supported_tasks(self) -> list[str]:
        return sorted(set(self.tasks) | set(self.aliases))

    def check_task(self, task: str) -> tuple[str, dict]:
        """Resolve an alias and return (task name, its entry); unknown -> PipelineError listing the tasks.

        `translation_xx_to_yy` resolves to "translation" (the pipeline reads the languages from the name).
        """
        name = self.aliases.get(task, task)
        if name in self.tasks:
            return name, self.tasks[name]
        if task.startswith("translation_") and "translation" in self.tasks:
            parts = task.split("_")
            if len(parts) == 4 and parts[2] == "to" and parts[1] and parts[3]:
                return "translation", self.tasks["translation"]
            raise PipelineError(f"Invalid translation task {task!r}, use 'translation_XX_to_YY' "
                                f"(e.g. 'translation_en_to_fr')")
        raise PipelineError(f"Unknown task {task!r}, available tasks are {self.get_supported_tasks()}")

    def register_pipeline(self, task: str, pipeline_class: type, pt_model=None, default=None, type: str = "text",
                          **_unused) -> None:
        """Register `pipeline_class` under `task`; pt_model is an Auto class (or its name, or a tuple of them)
        used to load a model given as a folder."""
        if not (isinstance(pipeline_class, builtins.type) and issubclass(pipeline_class, Pipeline)):
            raise PipelineError(f"register_pipeline({task!r}): pipeline_class must subclass "
                                f"snuggle.pipelines.Pipeline, got {pipeline_class!r}")
        if pt_model is None:
            models = ()
        elif isinstance(pt_model, (tuple, list)):
            models = tuple(pt_model)
        else:
            models = (pt_model,)
        self.tasks[task] = {"impl": pipeline_class, "pt": models, "default": default, "type": type}

    def to_dict(self) -> dict:
        return dict(self.tasks)


PIPELINE_REGISTRY = PipelineRegistry(_BUILTIN_TASKS, TASK_ALIASES)


def register_pipeline(task: str, pipeline_class: type, pt_model=None, default=None, type: str = "text", **kwargs):
    """Shortcut for `PIPELINE_REGISTRY.register_pipeline` (see there)."""
    PIPELINE_REGISTRY.register_pipeline(task, pipeline_class, pt_model=pt_model, default=default, type=type, **kwargs)


def _model_class(entry):
    import snuggle.models

    return getattr(snuggle.models, entry) if isinstance(entry, str) else entry


# a model head that also serves a task's head (BertForPreTraining carries the masked-LM head)
_ALSO_SERVES = {"masked_lm": {"masked_lm", "pretraining"}}


def _task_heads(model_classes: tuple) -> set[str] | None:
    """The Auto-class heads ("masked_lm", ...) a task loads; None when it cannot tell (a concrete class
    was registered) or when any model fits (the base model of feature-extraction)."""
    heads = set()
    for entry in model_classes:
        head = getattr(_model_class(entry), "_head", None)
        if head is None or head == "base":
            return None
        heads |= _ALSO_SERVES.get(head, {head})
    return heads or None


def _registered_heads(cls: type) -> set[str] | None:
    """Heads under which the most specific registered ancestor of `cls` is registered; None if no ancestor
    is registered (a user's own model class: nothing to check against)."""
    from snuggle.models import auto

    registry = getattr(auto, "_MODEL_CLASSES", {})
    for klass in cls.__mro__:
        heads = {head for head, mapping in registry.items() if klass in mapping.values()}
        if heads:
            return heads
    return None


def _describe(heads) -> str:
    return " or ".join(sorted(heads))


def check_model_fits_task(task: str, model_classes: tuple, model) -> None:
    """A PipelineError naming the model class and the task when `model` (an object) has the wrong head.

    >>> check_model_fits_task("fill-mask", ("AutoModelForMaskedLM",), BertForSequenceClassification(cfg))  # doctest: +SKIP
    PipelineError: pipeline('fill-mask'): BertForSequenceClassification cannot be used for this task ...
    """
    wanted = _task_heads(model_classes)
    if wanted is None:
        return
    has = _registered_heads(type(model))
    if has is not None and not has & wanted:
        names = [getattr(_model_class(e), "__name__", str(e)) for e in model_classes]
        raise PipelineError(f"pipeline({task!r}): {type(model).__name__} cannot be used for this task: it needs a "
                            f"{_describe(wanted)} model ({', '.join(names)}), and {type(model).__name__} is a "
                            f"{_describe(has)} model")


def check_folder_fits_task(task: str, model_classes: tuple, folder: str) -> None:
    """The same check before loading a folder, from config.json's `architectures`. A base-model checkpoint
    (e.g. BertModel) passes: the task's head is then freshly initialised, as in transformers."""
    import json

    wanted = _task_heads(model_classes)
    config_path = os.path.join(folder, "config.json")
    if wanted is None or not os.path.isfile(config_path):
        return
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return  # the loader reports a broken config.json with its own message
    architectures = config.get("architectures") or []
    if not architectures or not isinstance(architectures[0], str):
        return
    from snuggle.errors import ModelError
    from snuggle.models import auto

    try:
        auto.config_class_for(config.get("model_type"), where=config_path)  # imports the architecture module
    except ModelError:
        return
    registry = getattr(auto, "_MODEL_CLASSES", {})
    has = {head for head, mapping in registry.items() if any(c.__name__ == architectures[0] for c in mapping.values())}
    if has and "base" not in has and not has & wanted:
        names = [getattr(_model_class(e), "__name__", str(e)) for e in model_classes]
        raise PipelineError(f"pipeline({task!r}): the checkpoint in {folder!r} is a {architectures[0]} "
                            f"(config.json architectures), a {_describe(has)} model; this task needs a "
                            f"{_describe(wanted)} model ({', '.join(names)})")


def _load_model(task: str, model_classes: tuple, folder: str, dtype, model_kwargs: dict):
    from snuggle.errors import ModelError

    if not model_classes:
        raise PipelineError(f"task {task!r} was registered without pt_model, so a model folder cannot be "
                            f"loaded for it: pass model=<a model object>")
    failures = []
    for entry in model_classes:
        cls = _model_class(entry)
        kwargs = dict(model_kwargs)
        if dtype is not None:
            kwargs["dtype"] = dtype
        try:
            return cls.from_pretrained(folder, **kwargs)
        except (ModelError, ValueError, KeyError) as err:
            failures.append(f"{getattr(cls, '__name__', cls)}: {err}")
    raise PipelineError(f"the model in {folder!r} cannot be used for task {task!r}: " + "; ".join(failures))


@gc_paused()
def pipeline(task: str | None = None, model=None, tokenizer=None, device=None, dtype=None, batch_size=None,
             torch_dtype=None, model_kwargs: dict | None = None, pipeline_class=None, **kwargs) -> Pipeline:
    """Build the pipeline for `task` on `model` (a folder or a model object).

    The tokenizer defaults to the model folder's (or `model.name_or_path`'s); `device` (int, str or
    torch.device) and `dtype` move the model; other keywords are the task's own (e.g. top_k).

    >>> pipeline("no-such-task")                                     # doctest: +SKIP
    PipelineError: Unknown task 'no-such-task', available tasks are [...]
    """
    if task is None:
        raise PipelineError(f"pipeline() needs a task; available tasks are {PIPELINE_REGISTRY.get_supported_tasks()}")
    if model is None:
        raise PipelineError(f"pipeline({task!r}) needs model=<folder or model object>: no default model is "
                            f"downloaded offline")
    name, entry = PIPELINE_REGISTRY.check_task(task)
    dtype = dtype if dtype is not None else torch_dtype
    if dtype != "auto":
        dtype = _resolve_dtype(dtype)  # a bad dtype is a PipelineError before anything loads
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise PipelineError(f"batch_size must be a positive int, got {batch_size!r}")
    if tokenizer is not None and not isinstance(tokenizer, (str, os.PathLike)) and not callable(tokenizer):
        raise PipelineError(f"pipeline({task!r}): tokenizer must be a folder (str) or a tokenizer object, "
                            f"got {type(tokenizer).__name__}")
    if isinstance(model, (str, os.PathLike)):
        model_path = os.fspath(model)
        if not os.path.isdir(model_path):
            raise PipelineError(f"pipeline({task!r}): model folder {model_path!r} does not exist")
        if pipeline_class is None:
            check_folder_fits_task(task, entry["pt"], model_path)
        model = _load_model(name, entry["pt"], model_path, dtype, model_kwargs or {})
        dtype = None
    else:
        if not hasattr(model, "config") or not callable(model):
            raise PipelineError(f"pipeline({task!r}): model must be a model folder (str or os.PathLike) or a "
                                f"model object (a torch module with a .config), got {type(model).__name__}")
        if pipeline_class is None:
            check_model_fits_task(task, entry["pt"], model)
        model_path = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None),
                                                                     "_name_or_path", None)
    if tokenizer is None and model_path:
        from snuggle.tokenizers.pretrained import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_path)
    elif isinstance(tokenizer, (str, os.PathLike)):
        from snuggle.tokenizers.pretrained import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(os.fspath(tokenizer))
    impl = pipeline_class or entry["impl"]
    if isinstance(impl, str):
        impl = _import_dotted(impl)
    return impl(model=model, tokenizer=tokenizer, device=device, dtype=dtype, batch_size=batch_size,
                task=task if name == "translation" else name, **kwargs)
