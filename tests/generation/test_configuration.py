"""GenerationConfig: validation names the argument; generation_config.json round-trips with the reference."""

import json

import pytest
import transformers

from snuggle.errors import ConfigError
from snuggle.generation import GenerationConfig


@pytest.mark.parametrize("kwargs,name", [
    (dict(top_p=1.5), "top_p"),
    (dict(temperature=-0.1), "temperature"),
    (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(max_new_tokens=0), "max_new_tokens"),
])
def test_invalid_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        GenerationConfig(**kwargs)


def test_defaults_match_reference():
    ours, theirs = GenerationConfig().resolved(), transformers.GenerationConfig()
    for key, value in transformers.GenerationConfig._get_default_generation_params().items():
        if hasattr(ours, key):
            assert getattr(ours, key) == value, key
    assert GenerationConfig().max_new_tokens is theirs.max_new_tokens is None


def test_save_load_round_trip_both_ways(tmp_path):
    GenerationConfig(max_new_tokens=7, do_sample=True, top_p=0.9, eos_token_id=[2, 3]).save_pretrained(tmp_path / "a")
    loaded = transformers.GenerationConfig.from_pretrained(tmp_path / "a")
    assert (loaded.max_new_tokens, loaded.top_p, loaded.eos_token_id) == (7, 0.9, [2, 3])
    transformers.GenerationConfig(max_new_tokens=5, temperature=0.5, do_sample=True).save_pretrained(tmp_path / "b")
    ours = GenerationConfig.from_pretrained(tmp_path / "b")
    assert (ours.max_new_tokens, ours.temperature) == (5, 0.5)
    assert "top_k" not in json.loads((tmp_path / "a" / "generation_config.json").read_text())


def test_from_model_config_takes_token_ids():
    config = transformers.LlamaConfig(eos_token_id=4, bos_token_id=1, pad_token_id=0)
    ours = GenerationConfig.from_model_config(config.to_dict())
    theirs = transformers.GenerationConfig.from_model_config(config)
    assert (ours.eos_token_id, ours.bos_token_id, ours.pad_token_id) == (theirs.eos_token_id, theirs.bos_token_id, theirs.pad_token_id)
