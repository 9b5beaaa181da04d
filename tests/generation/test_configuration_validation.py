"""GenerationConfig validation: bad values raise ConfigError naming the argument; flags that only matter in
another mode warn once per process (the same flags as transformers, with the same provenance rule)."""

import logging
import re

import pytest
import transformers

from snuggle.errors import ConfigError
from snuggle.generation import GenerationConfig
from snuggle.utils import logging as snuggle_logging

BAD = [
    (dict(top_p=1.5), "top_p"),
    (dict(top_p=-0.1), "top_p"),
    (dict(temperature=-1.0), "temperature"),
    (dict(temperature="hot"), "temperature"),
    (dict(temperature=True), "temperature"),
    (dict(top_k=-1), "top_k"),
    (dict(top_k=2.5), "top_k"),
    (dict(min_p=1.5), "min_p"),
    (dict(typical_p=0.0), "typical_p"),
    (dict(epsilon_cutoff=-0.1), "epsilon_cutoff"),
    (dict(eta_cutoff=2.0), "eta_cutoff"),
    (dict(repetition_penalty=0.0), "repetition_penalty"),
    (dict(encoder_repetition_penalty=-1.0), "encoder_repetition_penalty"),
    (dict(no_repeat_ngram_size=-2), "no_repeat_ngram_size"),
    (dict(num_beams=0), "num_beams"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(num_beams=2, num_return_sequences=3, do_sample=True), "num_return_sequences"),
    (dict(num_return_sequences=2), "num_return_sequences"),
    (dict(num_return_sequences=0), "num_return_sequences"),
    (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_length=-5), "max_length"),
    (dict(min_new_tokens=-1), "min_new_tokens"),
    (dict(max_time=-1), "max_time"),
    (dict(early_stopping="sometimes"), "early_stopping"),
    (dict(bad_words_ids=[[]]), "bad_words_ids"),
    (dict(bad_words_ids=[3, 4]), "bad_words_ids"),
    (dict(exponential_decay_length_penalty=(5,)), "exponential_decay_length_penalty"),
    (dict(suppress_tokens=[1, 2], forced_eos_token_id=2), "forced_eos_token_id"),
    (dict(suppress_tokens="abc"), "suppress_tokens"),
    (dict(stop_strings=["ok", ""]), "stop_strings"),
    (dict(cache_implementation="bogus"), "cache_implementation"),
    (dict(streamer=object()), "streamer"),
]


@pytest.mark.parametrize("kwargs,name", BAD, ids=[f"{n}-{i}" for i, (_, n) in enumerate(BAD)])
def test_bad_values_raise_config_error_naming_the_argument(kwargs, name):
    with pytest.raises(ConfigError, match=f"`{name}`"):
        GenerationConfig(**kwargs)
    config = GenerationConfig()
    if all(hasattr(config, key) for key in kwargs):  # (update() hands non-attributes such as streamer back)
        with pytest.raises(ConfigError, match=f"`{name}`"):
            config.update(**kwargs)


# Combinations the reference's GenerationConfig itself rejects: we reject them too.
REFERENCE_REJECTS = [
    dict(num_beams=2, num_return_sequences=3),
    dict(num_return_sequences=2),
    dict(max_new_tokens=0),
    dict(early_stopping="sometimes"),
    dict(suppress_tokens=[1, 2], forced_bos_token_id=1),
    dict(cache_implementation="bogus"),
]


@pytest.mark.parametrize("kwargs", REFERENCE_REJECTS)
def test_rejected_like_the_reference(kwargs):
    with pytest.raises(ValueError):
        transformers.GenerationConfig(**kwargs)
    with pytest.raises(ConfigError):
        GenerationConfig(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(top_p=0.0, do_sample=True), dict(temperature=0.0), dict(top_k=0, do_sample=True), dict(eta_cutoff=1.0),
    dict(num_beams=4, num_return_sequences=4), dict(num_return_sequences=3, do_sample=True),
    dict(stop_strings="###"), dict(exponential_decay_length_penalty=[3, 1.2]), dict(cache_implementation="static"),
])
def test_valid_edge_values_are_accepted(kwargs):
    GenerationConfig(**kwargs)


# ---- minor issues: which flags, and warned once --------------------------------------------------

MINOR = [
    dict(temperature=0.5),
    dict(do_sample=False, top_p=0.9, top_k=10, min_p=0.1, typical_p=0.5, epsilon_cutoff=0.1, eta_cutoff=0.1),
    dict(do_sample=True, temperature=0.5, length_penalty=2.0, early_stopping=True),
    dict(num_beams=1, early_stopping="never", output_scores=True, output_logits=True),
    dict(use_cache=False, cache_implementation="static", pad_token_id=-1),
    dict(top_k=50, top_p=1.0, temperature=1.0, do_sample=False),
]


def _flags_in(message: str) -> list[str]:
    return sorted(set(re.findall(r"^- `(\w+)`", message, flags=re.M)))


@pytest.mark.parametrize("kwargs", MINOR)
def test_same_ignored_flags_as_reference(kwargs):
    """validate(strict=True) lists the ignored flags; both libraries list the same ones."""
    ours, theirs = GenerationConfig(**kwargs), transformers.GenerationConfig(**kwargs)
    try:
        theirs.validate(strict=True)
        expected = []
    except ValueError as exc:
        expected = _flags_in(str(exc))
    try:
        ours.validate(strict=True)
        got = []
    except ConfigError as exc:
        got = _flags_in(str(exc))
    assert got == expected


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_log():
    logger = logging.getLogger("snuggle.generation.configuration")
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def _forget(flags):
    message = f"The following generation flags are not valid and may be ignored: {flags}."
    for text in list(snuggle_logging._warned):
        if text.startswith(message):
            snuggle_logging._warned.discard(text)


def test_ignored_flag_warns_once_per_process(warnings_log):
    _forget(["temperature"])
    for _ in range(3):
        GenerationConfig(temperature=0.3)
        GenerationConfig().update(temperature=0.7)
    warned = [m for m in warnings_log if "['temperature']" in m]
    assert len(warned) == 1 and "temperature" in warned[0]


def test_inherited_flag_does_not_warn_when_the_caller_picks_greedy(warnings_log):
    """A model default (temperature=0.6 from generation_config.json) plus an explicit do_sample=False: quiet."""
    _forget(["temperature"])
    config = GenerationConfig(do_sample=True, temperature=0.6)
    config.update(do_sample=False)
    assert not [m for m in warnings_log if "temperature" in m]
    reference = transformers.GenerationConfig(do_sample=True, temperature=0.6)
    reference.do_sample = False
    with pytest.raises(ValueError):  # the same combination, set directly, is an issue for both
        reference.validate(strict=True)
    with pytest.raises(ConfigError):
        config.validate(strict=True)
