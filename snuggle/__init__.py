"""snuggle: the Hugging Face LLM stack in one package.

Users keep their habits; only the import line changes:

>>> from snuggle import AutoTokenizer          # doctest: +SKIP
>>> tok = AutoTokenizer.from_pretrained("./my-model")   # doctest: +SKIP

Every public name resolves lazily (PEP 562), so `import snuggle` does not import torch,
pyarrow or any other heavy dependency.
"""

from __future__ import annotations

from snuggle.utils.lazy import lazy_exports, register_fast_exit

__version__ = "0.1.0"

def _model_names() -> list[str]:
    """snuggle.models' public names, without importing torch (that module's table is plain data)."""
    from snuggle.models import _NAMES

    return [n for n in _NAMES if not n.startswith("_")]


def _generation_names() -> list[str]:
    """snuggle.generation's public classes (its package module is a plain name table, no torch)."""
    from snuggle.generation import __all__ as names

    return [n for n in names if n not in ("generate", "build_logits_processor", "GENERATION_CONFIG_NAME")]


def _training_names() -> list[str]:
    """snuggle.training's public names (its package module is a plain name table, no torch)."""
    from snuggle.training import __all__ as names

    return list(names)


# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # tokenizers layer (transformers names)
    "AutoTokenizer": "snuggle.tokenizers.pretrained",
    "PreTrainedTokenizerFast": "snuggle.tokenizers.pretrained",
    "PreTrainedTokenizer": "snuggle.tokenizers.pretrained",
    "PreTrainedTokenizerBase": "snuggle.tokenizers.pretrained",
    "BatchEncoding": "snuggle.tokenizers.pretrained",
    # tokenizers library names
    "Tokenizer": "snuggle.tokenizers.tokenizer",
    "AddedToken": "snuggle.tokenizers.added_vocabulary",
    # datasets library names
    **{
        name: "snuggle.data"
        for name in (
            "Dataset", "DatasetDict", "IterableDataset", "IterableDatasetDict", "concatenate_datasets",
            "interleave_datasets", "load_dataset", "load_from_disk", "split_dataset_by_node", "disable_caching",
            "enable_caching", "is_caching_enabled", "Features", "Value", "ClassLabel", "Sequence", "List",
            "LargeList", "Array2D", "Array3D", "Array4D", "Array5D", "Translation", "TranslationVariableLanguages",
            "DatasetInfo", "load_dataset_builder", "ReadInstruction", "Split", "NamedSplit",
        )
    },
    # training: data collators, TrainingArguments, Trainer, callbacks, schedulers (transformers names)
    **{name: "snuggle.training" for name in _training_names()},
    # accelerate names (the collectives stay at snuggle.accelerate: gather, reduce, ...)
    **{
        name: "snuggle.accelerate"
        for name in (
            "Accelerator", "PartialState", "AcceleratorState", "GradientState", "DistributedType", "PrecisionType",
            "find_executable_batch_size", "release_memory", "skip_first_batches", "prepare_data_loader",
            "GradientAccumulationPlugin", "FullyShardedDataParallelPlugin", "DistributedDataParallelKwargs",
            "GradScalerKwargs", "InitProcessGroupKwargs", "AutocastKwargs", "ProjectConfiguration",
            "DataLoaderConfiguration",
        )
    },
    # models (transformers names): configs, PreTrainedModel, Auto classes, architectures
    **{name: "snuggle.models" for name in _model_names()},
    # generation and pipelines (transformers names)
    **{name: "snuggle.generation" for name in _generation_names()},
    **{
        name: "snuggle.pipelines"
        for name in (
            "pipeline", "Pipeline", "KeyDataset", "PipelineError", "PIPELINE_REGISTRY", "TextClassificationPipeline",
            "FeatureExtractionPipeline", "FillMaskPipeline", "TokenClassificationPipeline", "NerPipeline",
            "QuestionAnsweringPipeline", "ZeroShotClassificationPipeline", "TextGenerationPipeline",
            "Text2TextGenerationPipeline", "SummarizationPipeline", "TranslationPipeline",
        )
    },
    "SquadExample": "snuggle.pipelines.question_answering",
    # errors
    "SnuggleError": "snuggle.errors",
}

_SUBPACKAGES = {"tokenizers", "data", "models", "generation", "pipelines", "training", "metrics", "accelerate", "utils", "errors", "cli"}

__all__ = sorted(set(_EXPORTS) | _SUBPACKAGES | {"__version__"})


__getattr__, __dir__ = lazy_exports("snuggle", _EXPORTS, globals(), _SUBPACKAGES)

register_fast_exit()
