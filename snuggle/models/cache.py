"""Key/value caches for decoder models: one object owned by the caller, updated layer by layer.

A decoder layer calls `cache.update(key, value, layer_idx)` with the keys/values of the new tokens
(batch, kv_heads, new_seq, head_dim) and gets back the keys/values of *all* tokens seen so far for
that layer, which it attends over. The model asks `cache.get_seq_length()` before running the layers
to know where the new tokens start (their positions and the causal-mask offset).

`DynamicCache` grows by concatenation (the transformers default). It always keeps every token, also
for sliding-window layers: the attention mask hides what falls outside the window, so outputs equal a
full forward pass. The generation issue adds static (preallocated) caches as `Cache` subclasses.

Legacy format: a tuple with one `(key, value)` pair per layer, as transformers 4 returned it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from snuggle.errors import ModelError

LegacyCache = tuple[tuple[torch.Tensor, torch.Tensor], ...]


class Cache:
    """Interface every cache implements; models only call these methods."""

    is_compileable = False

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, cache_kwargs: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def get_seq_length(self, layer_idx: int = 0) -> int:
        raise NotImplementedError

    def get_max_cache_shape(self, layer_idx: int = 0) -> int | None:
        """Maximum number of tokens the cache can hold, None when it grows without bound."""
        return None


class DynamicCache(Cache):
    """A cache that grows with each forward pass: per layer, keys and values are concatenated on the sequence axis.

    >>> cache = DynamicCache()
    >>> k = v = torch.zeros(1, 2, 3, 4)               # (batch, kv_heads, seq, head_dim)
    >>> keys, values = cache.update(k, v, layer_idx=0)
    >>> keys, values = cache.update(k[:, :, :1], v[:, :, :1], layer_idx=0)
    >>> keys.shape, cache.get_seq_length()
    (torch.Size([1, 2, 4, 4]), 4)
    """

    def __init__(self, legacy_cache: Sequence | None = None, config=None, **kwargs) -> None:
        # `config` is accepted (and unused) so `DynamicCache(config=model.config)` works as in transformers.
        self.key_cache: list[torch.Tensor | None] = []
        self.value_cache: list[torch.Tensor | None] = []
        if legacy_cache is not None:
            for layer_idx, pair in enumerate(legacy_cache):
                if len(pair) < 2:
                    raise ModelError(
                        f"legacy cache entry {layer_idx}: expected a (key, value) pair, found {len(pair)} tensors"
                    )
                self.update(pair[0], pair[1], layer_idx)

    # ---- core -------------------------------------------------------------------------------------------------
    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, cache_kwargs: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new keys/values (batch, kv_heads, new_seq, head_dim) of one layer; return all of them."""
        while len(self.key_cache) <= layer_idx:
            self.key_cache.append(None)
            self.value_cache.append(None)
        past_keys = self.key_cache[layer_idx]
        if past_keys is None:
            self.key_cache[layer_idx] = key_states
            self.value_cache[layer_idx] = value_states
        else:
            if past_keys.shape[0] != key_states.shape[0] or past_keys.shape[1] != key_states.shape[1]:
                raise ModelError(
                    f"DynamicCache layer {layer_idx}: cached keys have shape {tuple(past_keys.shape)} but the new keys "
                    f"have {tuple(key_states.shape)} (batch and kv_heads must match); start a new cache for a new batch"
                )
            self.key_cache[layer_idx] = torch.cat([past_keys, key_states], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value_states], dim=-2)
        return self.key_cache[layer_idx], self.value_cache[layer_idx]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of tokens cached for `layer_idx` (0 when that layer has seen nothing yet)."""
        if layer_idx >= len(self.key_cache) or self.key_cache[layer_idx] is None:
            return 0
        return self.key_cache[layer_idx].shape[-2]

    # ---- editing ----------------------------------------------------------------------------------------------
    def crop(self, max_length: int) -> None:
        """Keep the first `max_length` tokens; a negative value removes that many tokens from the end."""
        if max_length < 0:
            max_length = self.get_seq_length() - abs(max_length)
        if self.get_seq_length() <= max_length:
            return
        for idx, keys in enumerate(self.key_cache):
            if keys is not None:
                self.key_cache[idx] = keys[..., :max_length, :]
                self.value_cache[idx] = self.value_cache[idx][..., :max_length, :]

    def reset(self) -> None:
        """Forget every token (the layers stay)."""
        self.key_cache = [None] * len(self.key_cache)
        self.value_cache = [None] * len(self.value_cache)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Select batch rows (beam search): row i becomes old row beam_idx[i]."""
        self._apply_to_batch(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep only the batch rows in `indices` (contrastive search, batch splitting)."""
        self._apply_to_batch(lambda t: t[indices, ...])

    def batch_repeat_interleave(self, repeats: int) -> None:
        """Repeat each batch row `repeats` times (expanding a prompt cache to several beams or samples)."""
        self._apply_to_batch(lambda t: t.repeat_interleave(repeats, dim=0))

    def _apply_to_batch(self, fn) -> None:
        for idx, keys in enumerate(self.key_cache):
            if keys is not None:
                self.key_cache[idx] = fn(keys)
                self.value_cache[idx] = fn(self.value_cache[idx])

    # ---- legacy tuples and sequence protocol ------------------------------------------------------------------
    def to_legacy_cache(self) -> LegacyCache:
        """Return `((key, value), ...)` with one pair per layer."""
        return tuple((k, v) for k, v in zip(self.key_cache, self.value_cache) if k is not None)

    @classmethod
    def from_legacy_cache(cls, past_key_values: Sequence | None = None) -> DynamicCache:
        """Build a cache from `((key, value), ...)`; None gives an empty cache."""
        return cls(legacy_cache=past_key_values)

    def __len__(self) -> int:
        return len(self.key_cache)

    def __getitem__(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if layer_idx >= len(self.key_cache) or self.key_cache[layer_idx] is None:
            raise ModelError(f"DynamicCache has no entry for layer {layer_idx} (it holds {len(self)} layers)")
        return self.key_cache[layer_idx], self.value_cache[layer_idx]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.to_legacy_cache())

    def __repr__(self) -> str:
        return f"DynamicCache(layers={len(self)}, seq_length={self.get_seq_length()})"


def as_cache(past_key_values) -> Cache | None:
    """Accept a Cache, a legacy tuple of (key, value) pairs, or None, and return a Cache (or None).

    >>> as_cache(None) is None
    True
    """
    if past_key_values is None or isinstance(past_key_values, Cache):
        return past_key_values
    if isinstance(past_key_values, (tuple, list)):
        return DynamicCache.from_legacy_cache(past_key_values)
    raise ModelError(
        f"past_key_values: expected a snuggle.models.cache.Cache or a tuple of (key, value) pairs per layer, "
        f"found {type(past_key_values).__name__}"
    )


class EncoderDecoderCache(Cache):
    """Two caches for an encoder-decoder model: decoder self-attention (grows) and cross-attention (computed once).

    `is_updated[layer_idx]` records that a layer's cross-attention keys/values (which depend only on the
    encoder output) are stored, so later decoding steps reuse them instead of projecting again.
    (Added by the gpt2/t5 engineer; the seq length is the self-attention cache's, as in transformers.)

    >>> cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
    >>> cache.get_seq_length(), cache.is_updated
    (0, {})
    """

    def __init__(self, self_attention_cache: Cache | None = None, cross_attention_cache: Cache | None = None) -> None:
        self.self_attention_cache = self_attention_cache if self_attention_cache is not None else DynamicCache()
        self.cross_attention_cache = cross_attention_cache if cross_attention_cache is not None else DynamicCache()
        self.is_updated: dict[int, bool] = {
            idx: self.cross_attention_cache.get_seq_length(idx) > 0 for idx in range(len(self.cross_attention_cache))
        } if isinstance(self.cross_attention_cache, DynamicCache) else {}

    def update(self, key_states, value_states, layer_idx, cache_kwargs=None):
        """Update the self-attention cache (what a decoder layer's own keys/values go to)."""
        return self.self_attention_cache.update(key_states, value_states, layer_idx, cache_kwargs)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.self_attention_cache.get_seq_length(layer_idx)

    def reset(self) -> None:
        self.self_attention_cache.reset()
        self.cross_attention_cache.reset()
        self.is_updated = {}

    def crop(self, max_length: int) -> None:
        """Crop the self-attention cache only (the cross-attention keys cover the whole encoder output)."""
        self.self_attention_cache.crop(max_length)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self.self_attention_cache.reorder_cache(beam_idx)
        self.cross_attention_cache.reorder_cache(beam_idx)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.self_attention_cache.batch_select_indices(indices)
        self.cross_attention_cache.batch_select_indices(indices)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self.self_attention_cache.batch_repeat_interleave(repeats)
        self.cross_attention_cache.batch_repeat_interleave(repeats)

    def to_legacy_cache(self):
        """`((self_k, self_v, cross_k, cross_v), ...)` per layer, the transformers 4 tuple format."""
        self_pairs = self.self_attention_cache.to_legacy_cache()
        cross_pairs = self.cross_attention_cache.to_legacy_cache()
        if not cross_pairs:
            return self_pairs
        return tuple(s + c for s, c in zip(self_pairs, cross_pairs))

    @classmethod
    def from_legacy_cache(cls, past_key_values=None) -> EncoderDecoderCache:
        """Build from `((self_k, self_v[, cross_k, cross_v]), ...)`; None gives an empty cache."""
        cache = cls(DynamicCache(), DynamicCache())
        for layer_idx, entry in enumerate(past_key_values or ()):
            cache.self_attention_cache.update(entry[0], entry[1], layer_idx)
            if len(entry) > 2:
                cache.cross_attention_cache.update(entry[2], entry[3], layer_idx)
                cache.is_updated[layer_idx] = True
        return cache

    def __len__(self) -> int:
        return len(self.self_attention_cache)

    def __repr__(self) -> str:
        return (
            f"EncoderDecoderCache(self_attention={self.self_attention_cache!r}, "
            f"cross_attention={self.cross_attention_cache!r})"
        )
