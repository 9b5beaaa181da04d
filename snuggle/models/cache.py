"""Key/value caches for decoder models: one object owned by the caller, updated layer by layer.

A decoder layer calls `cache.update(key, value, layer_idx)` with the keys/values of the new tokens
(batch, kv_heads, new_seq, head_dim) and gets back the keys/values of *all* tokens seen so far for
that layer, which it attends over. The model asks `cache.get_seq_length()` before running the layers
to know where the new tokens start (their positions and the causal-mask offset).

`DynamicCache` grows with each forward pass (the transformers default), into per-layer buffers with
spare room, so a decoding step copies only the new token. It always keeps every token, also for
sliding-window layers: the attention mask hides what falls outside the window, so outputs equal a
full forward pass. `StaticCache` preallocates fixed-size buffers and copies new tokens in place.

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


def _buffers_holding(past_keys: torch.Tensor, past_values: torch.Tensor, capacity: int):
    """(key, value) buffers with room for `capacity` tokens, the cached ones copied in first."""
    length = past_keys.shape[-2]
    key_buffer = past_keys.new_empty((*past_keys.shape[:2], capacity, past_keys.shape[-1]))
    value_buffer = past_values.new_empty((*past_values.shape[:2], capacity, past_values.shape[-1]))
    key_buffer.narrow(2, 0, length).copy_(past_keys)
    value_buffer.narrow(2, 0, length).copy_(past_values)
    return key_buffer, value_buffer


class DynamicCache(Cache):
    """A cache that grows with each forward pass: per layer, keys and values are appended on the sequence axis.

    >>> cache = DynamicCache()
    >>> k = v = torch.zeros(1, 2, 3, 4)               # (batch, kv_heads, seq, head_dim)
    >>> keys, values = cache.update(k, v, layer_idx=0)
    >>> keys, values = cache.update(k[:, :, :1], v[:, :, :1], layer_idx=0)
    >>> keys.shape, cache.get_seq_length()
    (torch.Size([1, 2, 4, 4]), 4)
    """

    # spare tokens allocated per layer when the cache grows (so decoding does not copy the cache every step)
    GROWTH = 128

    def __init__(self, legacy_cache: Sequence | None = None, config=None, **kwargs) -> None:
        # `config` is accepted (and unused) so `DynamicCache(config=model.config)` works as in transformers.
        self.key_cache: list[torch.Tensor | None] = []
        self.value_cache: list[torch.Tensor | None] = []
        # layer -> (key buffer, value buffer, the keys view last returned); see _append
        self._buffers: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
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
            return key_states, value_states
        if past_keys.shape[0] != key_states.shape[0] or past_keys.shape[1] != key_states.shape[1]:
            raise ModelError(
                f"DynamicCache layer {layer_idx}: cached keys have shape {tuple(past_keys.shape)} but the new keys "
                f"have {tuple(key_states.shape)} (batch and kv_heads must match); start a new cache for a new batch"
            )
        if past_keys.dim() != 4 or key_states.dtype != past_keys.dtype or key_states.device != past_keys.device:
            self.key_cache[layer_idx] = torch.cat([past_keys, key_states], dim=-2)
            self.value_cache[layer_idx] = torch.cat([self.value_cache[layer_idx], value_states], dim=-2)
            return self.key_cache[layer_idx], self.value_cache[layer_idx]
        keys, values = self._append(layer_idx, past_keys, self.value_cache[layer_idx], key_states, value_states)
        self.key_cache[layer_idx], self.value_cache[layer_idx] = keys, values
        return keys, values

    def _append(self, layer_idx, past_keys, past_values, key_states, value_states):
        """Write the new tokens after the cached ones in a buffer with spare room; return views of the filled part.

        Concatenating would copy the whole cache of every layer at every decoding step; instead each layer keeps
        a buffer that grows by GROWTH tokens at a time. The returned views hold the same values a concatenation
        would. If the cached tensors are not our last views (cropped, reordered or set by the caller), the
        buffer is rebuilt from them.
        """
        past_length, new_tokens = past_keys.shape[-2], key_states.shape[-2]
        buffers = self._buffers.get(layer_idx)
        if buffers is None or buffers[2] is not past_keys or past_length + new_tokens > buffers[0].shape[-2]:
            key_buffer, value_buffer = _buffers_holding(past_keys, past_values, past_length + new_tokens + self.GROWTH)
        else:
            key_buffer, value_buffer = buffers[0], buffers[1]
        key_buffer.narrow(2, past_length, new_tokens).copy_(key_states)
        value_buffer.narrow(2, past_length, new_tokens).copy_(value_states)
        keys = key_buffer.narrow(2, 0, past_length + new_tokens)
        values = value_buffer.narrow(2, 0, past_length + new_tokens)
        self._buffers[layer_idx] = (key_buffer, value_buffer, keys)
        return keys, values

    def reserve_token(
        self, key_placeholder: torch.Tensor, value_placeholder: torch.Tensor, layer_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`update` with one new token per row whose keys and values the caller then writes into the last
        position of the returned views (snuggle's C decode layer does). When the layer's buffer has room the
        placeholders (batch, kv_heads, 1, head_dim) are not even copied in: the slot is left as it was."""
        buffers = self._buffers.get(layer_idx)
        past_keys = self.key_cache[layer_idx] if buffers is not None else None
        if (past_keys is not None and buffers[2] is past_keys and past_keys.shape[-2] < buffers[0].shape[-2]
                and past_keys.shape[:2] == key_placeholder.shape[:2] and key_placeholder.shape[-2] == 1):
            self._set_length(layer_idx, past_keys.shape[-2] + 1)
            return self.key_cache[layer_idx], self.value_cache[layer_idx]
        return self.update(key_placeholder, value_placeholder, layer_idx)

    def _buffers_with_room(self, layer_idx: int, capacity: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The layer's (key, value) buffers, (batch, kv_heads, >= capacity, head_dim), holding the cached tokens
        first, for a caller that writes the next tokens into them itself and then calls `_set_length` (snuggle's
        decode loop, which so avoids making views every step); None when the layer's cache is not a plain 4D
        tensor pair. The cached views are unchanged."""
        past_keys = self.key_cache[layer_idx] if layer_idx < len(self.key_cache) else None
        past_values = self.value_cache[layer_idx] if past_keys is not None else None
        if past_keys is None or past_values is None or past_keys.dim() != 4 or past_values.dim() != 4:
            return None
        buffers = self._buffers.get(layer_idx)
        if buffers is None or buffers[2] is not past_keys or buffers[0].shape[-2] < capacity:
            self._buffers[layer_idx] = (*_buffers_holding(past_keys, past_values, capacity), None)
            self._set_length(layer_idx, past_keys.shape[-2])
            buffers = self._buffers[layer_idx]
        return buffers[0], buffers[1]

    def _set_length(self, layer_idx: int, length: int) -> None:
        """The layer holds the first `length` positions of its buffers: the cache's views (and the buffers' record
        of them) become those."""
        key_buffer, value_buffer, _ = self._buffers[layer_idx]
        keys, values = key_buffer.narrow(2, 0, length), value_buffer.narrow(2, 0, length)
        self._buffers[layer_idx] = (key_buffer, value_buffer, keys)
        self.key_cache[layer_idx], self.value_cache[layer_idx] = keys, values

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
        self._buffers = {}
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


class StaticCache(Cache):
    """A preallocated cache: per layer, keys and values live in fixed (max_batch_size, kv_heads, max_cache_len,
    head_dim) tensors and new tokens are copied in place, so decoding allocates nothing per step.

    `update` writes the new tokens at the next free positions (or at `cache_kwargs["cache_position"]`) and
    returns views of the filled part, so attention never sees the empty tail and needs no extra mask.
    Sliding-window layers keep every token too (the attention mask hides what falls outside the window).
    The buffers are allocated on the first update of each layer, in `dtype` / on `device` when given, else
    in the dtype and on the device of the first keys (as the transformers 5 cache does).

    >>> class Config: num_hidden_layers = 1; num_attention_heads = 2; num_key_value_heads = 2; hidden_size = 8
    >>> cache = StaticCache(config=Config(), max_batch_size=1, max_cache_len=6)
    >>> k = v = torch.ones(1, 2, 4, 4)                    # (batch, kv_heads, seq, head_dim)
    >>> keys, values = cache.update(k, v, layer_idx=0)
    >>> keys.shape, cache.get_seq_length(), cache.get_max_cache_shape()
    (torch.Size([1, 2, 4, 4]), 4, 6)
    """

    is_compileable = True

    def __init__(
        self,
        config=None,
        max_batch_size: int | None = None,
        max_cache_len: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        layer_device_map: dict[int, torch.device | str] | None = None,
        **kwargs,
    ) -> None:
        if config is None:
            raise ModelError("StaticCache: `config` (the model config) is required to size the cache")
        if max_batch_size is None:
            max_batch_size = kwargs.pop("batch_size", None)
        max_batch_size = 1 if max_batch_size is None else int(max_batch_size)
        if max_cache_len is None:
            max_cache_len = getattr(config, "max_position_embeddings", None)
        if max_cache_len is None or int(max_cache_len) < 1 or max_batch_size < 1:
            raise ModelError(
                f"StaticCache: expected positive max_batch_size and max_cache_len, found {max_batch_size} and "
                f"{max_cache_len}"
            )
        text_config = getattr(config, "get_text_config", None)
        config = text_config(decoder=True) if callable(text_config) else config
        self.max_batch_size = max_batch_size
        self.max_cache_len = int(max_cache_len)
        self.num_layers = int(config.num_hidden_layers)
        heads = config.num_attention_heads
        self.num_key_value_heads = getattr(config, "num_key_value_heads", None) or heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        self.device = torch.device(device) if device is not None else None
        self.dtype = dtype
        self.layer_device_map = layer_device_map
        self.key_cache: list[torch.Tensor | None] = [None] * self.num_layers
        self.value_cache: list[torch.Tensor | None] = [None] * self.num_layers
        # tokens written per layer (the filled prefix of each buffer)
        self._lengths = [0] * self.num_layers
        if device is not None and dtype is not None:
            for layer_idx in range(self.num_layers):
                self._allocate(layer_idx, dtype, self._layer_device(layer_idx))

    def _layer_device(self, layer_idx: int, fallback=None):
        if self.layer_device_map is not None and layer_idx in self.layer_device_map:
            return torch.device(self.layer_device_map[layer_idx])
        return self.device if self.device is not None else fallback

    def _allocate(self, layer_idx: int, dtype: torch.dtype, device) -> None:
        shape = (self.max_batch_size, self.num_key_value_heads, self.max_cache_len, self.head_dim)
        self.key_cache[layer_idx] = torch.zeros(shape, dtype=dtype, device=device)
        self.value_cache[layer_idx] = torch.zeros(shape, dtype=dtype, device=device)

    # ---- core -------------------------------------------------------------------------------------------------
    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, cache_kwargs: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy the new keys/values (batch, kv_heads, new_seq, head_dim) in place; return the filled prefix."""
        if layer_idx >= self.num_layers:
            raise ModelError(f"StaticCache: layer {layer_idx} does not exist (the cache has {self.num_layers} layers)")
        keys = self.key_cache[layer_idx]
        if keys is None:
            self._allocate(layer_idx, self.dtype or key_states.dtype, self._layer_device(layer_idx, key_states.device))
            keys = self.key_cache[layer_idx]
        values = self.value_cache[layer_idx]
        batch, heads, new_tokens, head_dim = key_states.shape
        if batch > self.max_batch_size or heads != keys.shape[1] or head_dim != keys.shape[3]:
            raise ModelError(
                f"StaticCache layer {layer_idx}: new keys have shape {tuple(key_states.shape)} but the cache holds "
                f"(batch <= {self.max_batch_size}, kv_heads={keys.shape[1]}, seq, head_dim={keys.shape[3]})"
            )
        cache_position = (cache_kwargs or {}).get("cache_position")
        if cache_position is not None:
            cache_position = cache_position.to(keys.device)
            end = int(cache_position.max()) + 1
            self._check_room(layer_idx, end)
            keys[:batch].index_copy_(2, cache_position, key_states.to(keys.dtype))
            values[:batch].index_copy_(2, cache_position, value_states.to(values.dtype))
            end = max(end, self._lengths[layer_idx])
        else:
            start = self._lengths[layer_idx]
            end = start + new_tokens
            self._check_room(layer_idx, end)
            if batch != keys.shape[0]:
                keys, values = keys[:batch], values[:batch]
            # narrow: one view op per tensor (this runs once per layer per decoded token)
            keys.narrow(2, start, new_tokens).copy_(key_states)
            values.narrow(2, start, new_tokens).copy_(value_states)
        self._lengths[layer_idx] = end
        if batch != keys.shape[0]:
            keys, values = keys[:batch], values[:batch]
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)

    def _check_room(self, layer_idx: int, end: int) -> None:
        if end > self.max_cache_len:
            raise ModelError(
                f"StaticCache layer {layer_idx}: {end} tokens do not fit in max_cache_len={self.max_cache_len}; "
                "create the cache with a larger max_cache_len (prompt length + max_new_tokens)"
            )

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of tokens written for `layer_idx`."""
        if layer_idx >= self.num_layers:
            return 0
        return self._lengths[layer_idx]

    def get_max_cache_shape(self, layer_idx: int = 0) -> int:
        return self.max_cache_len

    def get_max_length(self) -> int:
        return self.max_cache_len

    # ---- editing ----------------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every token; the buffers stay allocated (zeroed, as in the reference)."""
        for keys, values in zip(self.key_cache, self.value_cache):
            if keys is not None:
                keys.zero_()
                values.zero_()
        self._lengths = [0] * self.num_layers

    def crop(self, max_length: int) -> None:
        """Keep the first `max_length` tokens; a negative value removes that many tokens from the end."""
        if max_length < 0:
            max_length = self.get_seq_length() - abs(max_length)
        self._lengths = [min(length, max(int(max_length), 0)) for length in self._lengths]

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Select batch rows in place (beam search): row i becomes old row beam_idx[i]."""
        for keys, values in zip(self.key_cache, self.value_cache):
            if keys is not None:
                index = beam_idx.to(keys.device)
                rows = index.shape[0]
                keys[:rows].copy_(keys.index_select(0, index))
                values[:rows].copy_(values.index_select(0, index))

    # ---- legacy tuples and sequence protocol ------------------------------------------------------------------
    def to_legacy_cache(self) -> LegacyCache:
        """`((key, value), ...)` per allocated layer, holding the filled prefix of each buffer."""
        return tuple(
            (keys[:, :, :length], values[:, :, :length])
            for keys, values, length in zip(self.key_cache, self.value_cache, self._lengths)
            if keys is not None
        )

    def __len__(self) -> int:
        return self.num_layers

    def __getitem__(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        if layer_idx >= self.num_layers or self.key_cache[layer_idx] is None:
            raise ModelError(f"StaticCache has no entry for layer {layer_idx} (it holds {self.num_layers} layers)")
        length = self._lengths[layer_idx]
        return self.key_cache[layer_idx][:, :, :length], self.value_cache[layer_idx][:, :, :length]

    def __repr__(self) -> str:
        return (
            f"StaticCache(layers={self.num_layers}, max_batch_size={self.max_batch_size}, "
            f"max_cache_len={self.max_cache_len}, seq_length={self.get_seq_length()})"
        )


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
