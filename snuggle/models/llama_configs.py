"""Configs of the Llama family: LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config (transformers' fields and defaults).

The models in snuggle/models/llama.py read a few switches from these configs instead of checking
model_type: `qkv_bias` / `o_proj_bias`, `use_qk_norm` and `layer_sliding_window(i)`.

>>> Qwen2Config(num_hidden_layers=2, use_sliding_window=True, sliding_window=8, max_window_layers=1).layer_types
['full_attention', 'sliding_attention']
"""

from __future__ import annotations

from torch.nn import functional as F

from snuggle.errors import ModelError
from snuggle.models.attention import rope_parameters
from snuggle.models.configuration import PretrainedConfig

ACTIVATIONS = {
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}


class LlamaConfig(PretrainedConfig):
    """Llama hyper-parameters (transformers' LlamaConfig fields and defaults).

    RoPE settings are kept in `rope_parameters` as transformers 5 writes them; `rope_theta=` and
    `rope_scaling=` (older config.json files) are folded into it.

    >>> LlamaConfig(rope_theta=500000.0).rope_parameters
    {'rope_type': 'default', 'rope_theta': 500000.0}
    """

    model_type = "llama"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=None,
        hidden_act="silu",
        max_position_embeddings=2048,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        use_cache=True,
        pretraining_tp=1,
        tie_word_embeddings=False,
        rope_parameters=None,
        attention_bias=False,
        attention_dropout=0.0,
        mlp_bias=False,
        head_dim=None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.pretraining_tp = pretraining_tp
        self.tie_word_embeddings = tie_word_embeddings
        self.attention_bias = attention_bias
        self.attention_dropout = attention_dropout
        self.mlp_bias = mlp_bias
        self.head_dim = head_dim if head_dim is not None else hidden_size // num_attention_heads
        # token ids go through kwargs: eos_token_id may be an int or a list, which the field typing cannot say
        _token_id_defaults(kwargs, bos=1, eos=2)
        self._set_rope_parameters(rope_parameters, kwargs)
        super().__init__(**kwargs)

    # ---- shared by the family -----------------------------------------------------------------------------
    def _set_rope_parameters(self, given, kwargs) -> None:
        """Fold rope_theta / rope_scaling (old files) into one `rope_parameters` dict."""
        scaling = kwargs.pop("rope_scaling", None)
        theta = kwargs.pop("rope_theta", None)

        class _View:  # what rope_parameters() reads
            rope_parameters = dict(given or scaling or {})
            rope_theta = theta
            max_position_embeddings = self.max_position_embeddings

        self.rope_parameters = rope_parameters(_View())

    def validate(self) -> None:
        super().validate()
        if self.num_attention_heads % self.num_key_value_heads:
            raise ModelError(
                f"{type(self).__name__}: num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ModelError(
                f"{type(self).__name__}: hidden_act {self.hidden_act!r} is not supported; use one of {sorted(ACTIVATIONS)}"
            )

    @property
    def rope_theta(self) -> float:
        return self.rope_parameters["rope_theta"]

    @property
    def rope_scaling(self) -> dict:
        """transformers 4 name of `rope_parameters`."""
        return self.rope_parameters

    # switches the modules read (not config.json fields)
    @property
    def qkv_bias(self) -> bool:
        return bool(getattr(self, "attention_bias", False))

    @property
    def o_proj_bias(self) -> bool:
        return bool(getattr(self, "attention_bias", False))

    @property
    def use_qk_norm(self) -> bool:
        return False

    def layer_sliding_window(self, layer_idx: int) -> int | None:
        """Sliding-window size of layer `layer_idx`, None for full attention."""
        layer_types = getattr(self, "layer_types", None)
        window = getattr(self, "sliding_window", None)
        if layer_types is not None:
            return window if layer_types[layer_idx] == "sliding_attention" else None
        return window


class MistralConfig(LlamaConfig):
    """Mistral: Llama with GQA by default and a sliding window on every layer (transformers' defaults)."""

    model_type = "mistral"

    def __init__(
        self,
        vocab_size=32000,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=None,
        hidden_act="silu",
        max_position_embeddings=4096 * 32,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        use_cache=True,
        tie_word_embeddings=False,
        rope_parameters=None,
        sliding_window=4096,
        attention_dropout=0.0,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.head_dim = head_dim if head_dim is not None else hidden_size // num_attention_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self.sliding_window = sliding_window
        self.attention_dropout = attention_dropout
        _token_id_defaults(kwargs, bos=1, eos=2)
        self._set_rope_parameters(rope_parameters, kwargs)
        PretrainedConfig.__init__(self, **kwargs)


class Qwen2Config(LlamaConfig):
    """Qwen2: biases on q/k/v and optional sliding-window layers (from `max_window_layers` on)."""

    model_type = "qwen2"

    def __init__(
        self,
        vocab_size=151936,
        hidden_size=4096,
        intermediate_size=22016,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        hidden_act="silu",
        max_position_embeddings=32768,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        use_cache=True,
        tie_word_embeddings=False,
        rope_parameters=None,
        use_sliding_window=False,
        sliding_window=4096,
        max_window_layers=28,
        layer_types=None,
        attention_dropout=0.0,
        **kwargs,
    ):
        self._set_qwen_fields(
            vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
            num_key_value_heads, hidden_act, max_position_embeddings, initializer_range, rms_norm_eps,
            use_cache, tie_word_embeddings, use_sliding_window, sliding_window, max_window_layers,
            layer_types, attention_dropout,
        )
        _token_id_defaults(kwargs, bos=None, eos=None)
        self._set_rope_parameters(rope_parameters, kwargs)
        PretrainedConfig.__init__(self, **kwargs)

    def _set_qwen_fields(
        self, vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
        num_key_value_heads, hidden_act, max_position_embeddings, initializer_range, rms_norm_eps,
        use_cache, tie_word_embeddings, use_sliding_window, sliding_window, max_window_layers,
        layer_types, attention_dropout,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_attention_heads if num_key_value_heads is None else num_key_value_heads
        self.hidden_act = hidden_act
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.rms_norm_eps = rms_norm_eps
        self.use_cache = use_cache
        self.tie_word_embeddings = tie_word_embeddings
        self.use_sliding_window = use_sliding_window
        # as the reference: the window only exists when use_sliding_window is on
        self.sliding_window = sliding_window if use_sliding_window else None
        self.max_window_layers = max_window_layers
        if layer_types is None:
            layer_types = [
                "sliding_attention" if self.sliding_window is not None and i >= max_window_layers else "full_attention"
                for i in range(num_hidden_layers)
            ]
        if len(layer_types) != num_hidden_layers:
            raise ModelError(
                f"{type(self).__name__}: layer_types has {len(layer_types)} entries, expected num_hidden_layers="
                f"{num_hidden_layers}"
            )
        self.layer_types = list(layer_types)
        self.attention_dropout = attention_dropout

    @property
    def qkv_bias(self) -> bool:
        return True

    @property
    def o_proj_bias(self) -> bool:
        return False


class Qwen3Config(Qwen2Config):
    """Qwen3: Qwen2's layout without q/k/v bias (`attention_bias`), an explicit head_dim and q/k RMSNorm."""

    model_type = "qwen3"

    def __init__(
        self,
        vocab_size=151936,
        hidden_size=4096,
        intermediate_size=22016,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        head_dim=128,
        hidden_act="silu",
        max_position_embeddings=32768,
        initializer_range=0.02,
        rms_norm_eps=1e-6,
        use_cache=True,
        tie_word_embeddings=False,
        rope_parameters=None,
        attention_bias=False,
        use_sliding_window=False,
        sliding_window=4096,
        max_window_layers=28,
        layer_types=None,
        attention_dropout=0.0,
        **kwargs,
    ):
        self._set_qwen_fields(
            vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
            num_key_value_heads, hidden_act, max_position_embeddings, initializer_range, rms_norm_eps,
            use_cache, tie_word_embeddings, use_sliding_window, sliding_window, max_window_layers,
            layer_types, attention_dropout,
        )
        self.head_dim = head_dim
        self.attention_bias = attention_bias
        _token_id_defaults(kwargs, bos=None, eos=None)
        self._set_rope_parameters(rope_parameters, kwargs)
        PretrainedConfig.__init__(self, **kwargs)

    @property
    def qkv_bias(self) -> bool:
        return bool(self.attention_bias)

    @property
    def o_proj_bias(self) -> bool:
        return bool(self.attention_bias)

    @property
    def use_qk_norm(self) -> bool:
        return True


def _token_id_defaults(kwargs: dict, bos, eos) -> None:
    kwargs.setdefault("pad_token_id", None)
    kwargs.setdefault("bos_token_id", bos)
    kwargs.setdefault("eos_token_id", eos)
