"""Beam search (num_beams > 1), deterministic or sampled, with transformers' exact algorithm.

Per prompt we keep `num_beams` running hypotheses and up to `num_beams` finished ones, all in
static-shaped tensors (no Python lists of hypotheses), as transformers 5 does:

1. log_softmax the next-token logits, apply the processors, add each beam's running score;
   flatten to (batch, num_beams * vocab).
2. keep the top K = max(2, 1 + number of eos ids) * num_beams continuations (or sample K without
   replacement when do_sample), so at least num_beams of them are still running after some hit eos.
3. the stopping criteria mark candidates that finished; the best num_beams unfinished ones run on;
   finished ones among the top num_beams candidates compete, with score / generated_length ** length_penalty,
   for the num_beams finished slots.
4. stop when every slot is full and early_stopping is True, when no running beam can beat the worst
   finished one (the heuristic depends on early_stopping: True / False / "never"), or when every
   candidate hit a stopping criterion (max_length).

The KV cache rows follow their beams through `cache.reorder_cache(beam_idx)`.

>>> out = model.generate(input_ids, num_beams=4, length_penalty=1.0, early_stopping=True)   # doctest: +SKIP
"""

from __future__ import annotations

import torch

from snuggle.errors import ConfigError

_LARGE_NEGATIVE = -1.0e9


def _flatten_beams(tensor: torch.Tensor) -> torch.Tensor:
    """(batch, beams, ...) -> (batch * beams, ...)"""
    return tensor.reshape(tensor.shape[0] * tensor.shape[1], *tensor.shape[2:])


def _unflatten_beams(tensor: torch.Tensor, batch_size: int, num_beams: int) -> torch.Tensor:
    """(batch * beams, ...) -> (batch, beams, ...)"""
    return tensor.reshape(batch_size, num_beams, *tensor.shape[1:])


def _gather_beams(tensor: torch.Tensor, beam_indices: torch.Tensor) -> torch.Tensor:
    """Select beams along dim 1: tensor (batch, beams, ...), beam_indices (batch, k) -> (batch, k, ...)."""
    while beam_indices.dim() < tensor.dim():
        beam_indices = beam_indices.unsqueeze(-1)
    return torch.take_along_dim(tensor, beam_indices, dim=1)


def _top_k_continuations(log_probs, running_sequences, running_beam_indices, cur_len, prompt_len, do_sample,
                         beams_to_keep, num_beams, batch_size):
    """The K best (or sampled) continuations over all beams, with their sequences and beam-index histories."""
    if do_sample:
        topk_indices = torch.multinomial(torch.softmax(log_probs, dim=-1), num_samples=beams_to_keep)
        topk_log_probs = torch.gather(log_probs, dim=1, index=topk_indices)
        topk_log_probs, order = topk_log_probs.sort(dim=-1, descending=True)
        topk_indices = topk_indices.gather(dim=-1, index=order)
    else:
        topk_log_probs, topk_indices = torch.topk(log_probs, k=beams_to_keep)
    vocab_size = log_probs.shape[-1] // num_beams
    source_beams = topk_indices // vocab_size
    topk_beam_indices = _gather_beams(running_beam_indices, source_beams)
    topk_sequences = _gather_beams(running_sequences, source_beams)
    topk_sequences[:, :, cur_len] = topk_indices % vocab_size
    # beam indices are stored flat over the batch: batch_idx * num_beams + beam
    batch_offset = torch.arange(batch_size, device=topk_indices.device).view(-1, 1) * num_beams
    topk_beam_indices[:, :, cur_len - prompt_len] = source_beams + batch_offset
    return topk_log_probs, topk_sequences, topk_beam_indices


def _next_running_beams(topk_log_probs, topk_sequences, topk_beam_indices, hits_stop, num_beams):
    """The best num_beams candidates that did not just finish continue."""
    running_log_probs = topk_log_probs + hits_stop.to(torch.float32) * _LARGE_NEGATIVE
    keep = torch.topk(running_log_probs, k=num_beams)[1]
    return (_gather_beams(topk_sequences, keep), _gather_beams(running_log_probs, keep),
            _gather_beams(topk_beam_indices, keep))


def _update_finished(sequences, topk_sequences, beam_scores, topk_log_probs, beam_indices, topk_beam_indices,
                     can_improve, is_sent_finished, hits_stop, top_num_beam_mask, num_beams, cur_len, prompt_len,
                     length_penalty, early_stopping):
    """Merge newly finished candidates (top num_beams only) into the finished slots, keeping the best num_beams."""
    just_finished = hits_stop & top_num_beam_mask[None, :]
    topk_log_probs = topk_log_probs / ((cur_len + 1 - prompt_len) ** length_penalty)
    slots_full = torch.all(is_sent_finished, axis=-1, keepdims=True) & (early_stopping is True)
    topk_log_probs += slots_full.to(torch.float32) * _LARGE_NEGATIVE
    topk_log_probs += (~can_improve).to(torch.float32) * _LARGE_NEGATIVE
    topk_log_probs += (~just_finished) * _LARGE_NEGATIVE

    merged_sequences = torch.cat((sequences, topk_sequences), dim=1)
    merged_scores = torch.cat((beam_scores, topk_log_probs), dim=1)
    merged_beam_indices = torch.cat((beam_indices, topk_beam_indices), dim=1)
    merged_finished = torch.cat((is_sent_finished, just_finished), dim=1)
    best = torch.topk(merged_scores, k=num_beams)[1]
    return (_gather_beams(merged_sequences, best), _gather_beams(merged_scores, best),
            _gather_beams(merged_beam_indices, best), _gather_beams(merged_finished, best))


def _can_still_improve(can_improve, running_beam_scores, beam_scores, is_sent_finished, cur_len, max_length,
                       prompt_len, early_stopping, length_penalty):
    """Per prompt: can the best running beam still beat the worst finished one?"""
    if early_stopping == "never" and length_penalty > 0.0:
        best_length = max_length - prompt_len
    else:
        best_length = cur_len - prompt_len
    best_running = running_beam_scores[:, :1] / (best_length**length_penalty)
    worst_finished = torch.where(is_sent_finished, torch.min(beam_scores, dim=1, keepdim=True)[0], -1.0e9)
    return can_improve & torch.any(best_running > worst_finished, dim=-1, keepdim=True)


def beam_search(state):
    """Run beam search on a prepared DecodeState (rows = batch * num_beams); return sequences or a Beam output."""
    from snuggle.generation.outputs import (
        GenerateBeamDecoderOnlyOutput,
        GenerateBeamEncoderDecoderOutput,
        StepRecorder,
    )

    model, config = state.model, state.config
    num_beams = config.num_beams
    num_return_sequences = config.num_return_sequences
    if num_return_sequences > num_beams:
        raise ConfigError(
            f"generate: `num_return_sequences` ({num_return_sequences}) must be at most `num_beams` ({num_beams})"
        )
    length_penalty = config.length_penalty
    early_stopping = config.early_stopping
    do_sample = bool(config.do_sample)
    max_length = state.max_length
    rows, cur_len = state.input_ids.shape
    batch_size = rows // num_beams
    prompt_len = cur_len
    device = state.input_ids.device
    if state.cache is not None and not hasattr(state.cache, "reorder_cache"):
        raise ConfigError(f"generate: beam search needs a cache with reorder_cache; {type(state.cache).__name__} has none")

    eos = state.eos
    beams_to_keep = max(2, 1 + (len(eos) if eos else 0)) * num_beams
    top_num_beam_mask = torch.cat(
        (torch.ones(num_beams, dtype=torch.bool), torch.zeros(beams_to_keep - num_beams, dtype=torch.bool))
    ).to(device)

    keep_scores = config.return_dict_in_generate and config.output_scores
    keep_logits = config.return_dict_in_generate and config.output_logits
    all_scores = () if keep_scores else None
    raw_logits = () if keep_logits else None
    extras = StepRecorder(config, state)

    # Unused tail positions hold pad (eos[0] when pad is 0 or unset), or -1 without eos, as in the reference.
    if eos:
        fill_value = state.pad if state.pad else eos[0]
    else:
        fill_value = -1
    running_sequences = torch.full((batch_size, num_beams, max_length), fill_value, dtype=torch.int64, device=device)
    running_sequences[:, :, :cur_len] = _unflatten_beams(state.input_ids, batch_size, num_beams)
    sequences = running_sequences.detach().clone()
    # Only the first beam starts "alive", so step one does not pick the same token num_beams times.
    running_beam_scores = torch.zeros((batch_size, num_beams), dtype=torch.float, device=device)
    running_beam_scores[:, 1:] = -1e9
    beam_scores = torch.full((batch_size, num_beams), -1e9, dtype=torch.float, device=device)
    is_sent_finished = torch.zeros((batch_size, num_beams), dtype=torch.bool, device=device)
    can_improve = torch.ones((batch_size, 1), dtype=torch.bool, device=device)
    running_beam_indices = torch.full((batch_size, num_beams, max_length - cur_len), -1, dtype=torch.int32,
                                      device=device)
    beam_indices = running_beam_indices.detach().clone()

    mask_buffer = None
    if state.attention_mask is not None:
        mask_buffer = state.attention_mask.new_ones((rows, max_length))
        mask_buffer[:, :prompt_len] = state.attention_mask
    positions = state.position_ids
    past = state.past_length
    flat_running = state.input_ids
    outputs = model(**state.model_inputs(
        flat_running[:, past:],
        None if mask_buffer is None else mask_buffer[:, :prompt_len],
        None if positions is None else positions[:, past:],
    ))
    next_positions = None if positions is None else positions[:, -1:] + 1
    while True:
        logits = state.next_token_logits(outputs)
        log_probs = torch.log_softmax(logits, dim=-1)
        log_probs = state.processors(flat_running, log_probs)
        if config.return_dict_in_generate:
            if keep_logits:
                raw_logits += (logits.clone(),)
            if keep_scores:
                all_scores += (log_probs.clone(),)
            extras.record(outputs)
        del outputs
        log_probs = _unflatten_beams(log_probs, batch_size, num_beams) + running_beam_scores[:, :, None]
        log_probs = log_probs.reshape(batch_size, -1)  # (batch, num_beams * vocab)

        topk_log_probs, topk_sequences, topk_beam_indices = _top_k_continuations(
            log_probs, running_sequences, running_beam_indices, cur_len, prompt_len, do_sample, beams_to_keep,
            num_beams, batch_size,
        )
        hits_stop = state.criteria(_flatten_beams(topk_sequences[:, :, : cur_len + 1]), all_scores)
        hits_stop = _unflatten_beams(hits_stop, batch_size, beams_to_keep)
        running_sequences, running_beam_scores, running_beam_indices = _next_running_beams(
            topk_log_probs, topk_sequences, topk_beam_indices, hits_stop, num_beams
        )
        sequences, beam_scores, beam_indices, is_sent_finished = _update_finished(
            sequences, topk_sequences, beam_scores, topk_log_probs, beam_indices, topk_beam_indices, can_improve,
            is_sent_finished, hits_stop, top_num_beam_mask, num_beams, cur_len, prompt_len, length_penalty,
            early_stopping,
        )
        # the cache rows follow the beams chosen for the next step
        if state.cache is not None:
            state.cache.reorder_cache(_flatten_beams(running_beam_indices[..., cur_len - prompt_len]).long())
        cur_len += 1
        can_improve = _can_still_improve(can_improve, running_beam_scores, beam_scores, is_sent_finished, cur_len,
                                         max_length, prompt_len, early_stopping, length_penalty)
        keep_going = (
            torch.any(can_improve)
            & ~(torch.all(is_sent_finished) & (early_stopping is True))
            & ~torch.all(hits_stop)
        )
        if not bool(keep_going):
            break
        flat_running = _flatten_beams(running_sequences[:, :, :cur_len])
        outputs = model(**state.step_inputs(
            flat_running, None if mask_buffer is None else mask_buffer[:, :cur_len], next_positions
        ))
        if next_positions is not None:
            next_positions = next_positions + 1

    # best num_return_sequences per prompt (finished slots are sorted by score), cropped to the longest one
    sequences = _flatten_beams(sequences[:, :num_return_sequences, :])
    beam_scores = _flatten_beams(beam_scores[:, :num_return_sequences])
    beam_indices = _flatten_beams(beam_indices[:, :num_return_sequences, :])
    generated = int((beam_indices + 1).bool().sum(dim=1).max())
    sequences = sequences[:, : prompt_len + generated]
    beam_indices = beam_indices[:, :generated]
    if not config.return_dict_in_generate:
        return sequences
    sequences_scores = beam_scores if config.output_scores else None
    if state.is_encoder_decoder:
        return GenerateBeamEncoderDecoderOutput(
            sequences=sequences, sequences_scores=sequences_scores, scores=all_scores, logits=raw_logits,
            beam_indices=beam_indices,
            **extras.output_fields(), past_key_values=state.cache,
        )
    return GenerateBeamDecoderOnlyOutput(
        sequences=sequences, sequences_scores=sequences_scores, scores=all_scores, logits=raw_logits,
        beam_indices=beam_indices, **extras.output_fields(), past_key_values=state.cache,
    )
