"""`generate`: resolve the config, prepare the inputs, run one decode loop, package the outputs.

The steps mirror transformers' `GenerationMixin.generate`, so results are token-identical to it:
config resolution and input preparation live in prepare.py (`prepare_generation` -> `DecodeState`),
greedy / sampling decoding is `_greedy_or_sample` here, beam search is beam_search.py, and the output
classes are in outputs.py.

The loop writes into preallocated (batch, max_length) buffers (no torch.cat of the sequence or the
attention mask per step) and does no validation per step; the only host sync per step is "are all
rows finished?", and only when something (eos, a custom criterion) can finish a row early.

>>> out = generate(model, input_ids, attention_mask=mask, max_new_tokens=8)     # doctest: +SKIP
>>> out = model.generate(input_ids, num_beams=3, return_dict_in_generate=True)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib

import torch

from snuggle.generation.configuration import GenerationConfig
from snuggle.generation import fast_sampling
from snuggle.generation.fast_sampling import argmax_into, greedy_token, multinomial_one
from snuggle.generation.logits_process import LogitsProcessorList
from snuggle.generation.mixin import GenerationMixin
from snuggle.generation.outputs import (
    GenerateBeamDecoderOnlyOutput,
    GenerateBeamEncoderDecoderOutput,
    GenerateDecoderOnlyOutput,
    GenerateEncoderDecoderOutput,
    StepRecorder,
)
from snuggle.generation.prepare import DecodeState, _pad_info_logged, prepare_generation  # noqa: F401
from snuggle.generation.stopping_criteria import (
    EosTokenCriteria,
    MaxLengthCriteria,
    StoppingCriteriaList,
)

__all__ = [
    "GenerateBeamDecoderOnlyOutput",
    "GenerateBeamEncoderDecoderOutput",
    "GenerateDecoderOnlyOutput",
    "GenerateEncoderDecoderOutput",
    "GenerationMixin",
    "generate",
]


# ------------------------------------------------------------------------------------------------- 3. decode loop
def _greedy_or_sample(state: DecodeState):
    """Greedy (do_sample=False) or multinomial sampling, one token per row per step."""
    model, config = state.model, state.config
    rows, prompt_length = state.input_ids.shape
    max_length = state.max_length
    device = state.input_ids.device

    # Preallocated buffers: step t writes column t; the model and processors see views [:, :t].
    sequences = torch.full((rows, max_length), state.pad if state.pad is not None else 0, dtype=torch.long,
                           device=device)
    sequences[:, :prompt_length] = state.input_ids
    mask_buffer = None
    if state.attention_mask is not None:
        mask_buffer = state.attention_mask.new_ones((rows, max_length))
        mask_buffer[:, :prompt_length] = state.attention_mask

    # Criteria the loop checks itself: the length bound and the eos ids; anything else is called each step.
    builtin = [c for c in state.criteria if type(c) in (MaxLengthCriteria, EosTokenCriteria)]
    others = [c for c in state.criteria if type(c) not in (MaxLengthCriteria, EosTokenCriteria)]
    custom_max = [c for c in builtin if isinstance(c, MaxLengthCriteria) and c.max_length != max_length]
    others.extend(custom_max)
    eos_criteria = [c for c in builtin if isinstance(c, EosTokenCriteria)]
    eos_ids = (torch.cat([c.eos_token_id.flatten() for c in eos_criteria]).to(device) if eos_criteria else None)
    has_eos_stopping = any(hasattr(c, "eos_token_id") for c in state.criteria)
    # One row: the eos check on a Python int (one op instead of where / isin / any, each ~50 us right after a
    # decode step has streamed the weights through the caches). The row is unfinished whenever a token is chosen
    # (else the loop has ended), so no pad substitution either.
    single_row_eos = set(eos_ids.tolist()) if rows == 1 and eos_ids is not None else None
    check_unfinished = bool(others) or (eos_ids is not None and single_row_eos is None)  # rows may finish early
    pad_value = torch.tensor(state.pad if state.pad is not None else 0, device=device)
    # One greedy row: the token goes from a C argmax straight into `sequences` (`argmax_into`), at the address of
    # column cur (no argmax, int and index_put ops, which run cold right after a decode step)
    direct = not config.do_sample and rows == 1 and device.type == "cpu"
    token_address, token_bytes = sequences.data_ptr(), sequences.stride(1) * sequences.element_size()

    keep_scores = config.return_dict_in_generate and config.output_scores
    keep_logits = config.return_dict_in_generate and config.output_logits
    # The processors may write into the step's logits (see LogitsProcessor._process_owned) when nothing reads them
    # later: not returned, and made fresh each step by one of snuggle's own models (a user's model might return a
    # tensor it keeps).
    owned_logits = (not keep_logits and isinstance(state.processors, LogitsProcessorList)
                    and type(model).__module__.startswith("snuggle."))
    scores = () if keep_scores else None
    raw_logits = () if keep_logits else None
    extras = StepRecorder(config, state)
    unfinished = torch.ones(rows, dtype=torch.bool, device=device)
    streamer = state.streamer
    if streamer is not None:
        streamer.put(state.input_ids.cpu())

    # prefill: the prompt minus whatever a caller's cache already holds
    past = state.past_length
    positions = state.position_ids
    outputs = model(**state.model_inputs(
        sequences[:, past:prompt_length],
        None if mask_buffer is None else mask_buffer[:, :prompt_length],
        None if positions is None else positions[:, past:],
    ))
    next_positions = None if positions is None else positions[:, -1:] + 1
    cur = prompt_length
    if getattr(model, "_single_thread_decode", None) is not None and model._single_thread_decode(rows):
        torch.set_num_threads(1)  # decode steps use the model's own 2-thread kernel; generate() restores it
    logits = state.next_token_logits(outputs)
    # A model may run the steps itself, without module calls (LlamaForCausalLM._decode_loop), when nothing needs
    # their outputs but the logits: no attentions or hidden states, no position ids or padding (the steps then
    # need neither), no extra model arguments.
    loop = None
    if (config.use_cache and not state.is_encoder_decoder and extras.decoder_attentions is None
            and extras.decoder_hidden is None and positions is None and not state.extra_kwargs
            and state.token_type_ids is None and getattr(model, "_decode_loop", None) is not None
            and (state.attention_mask is None or bool(state.attention_mask.all())) and cur < max_length):
        loop = model._decode_loop(state.cache, rows, max_length - cur)
    # A greedy row in that loop, whose processors only forbid tokens (eos before min_new_tokens, suppressed ids):
    # each step's logits (new, (1, vocab) float32 contiguous, kept by nobody) take the processors and the argmax
    # as C stores and one C scan at their address (`greedy_token`), no torch call
    bans = None
    if (loop is not None and direct and owned_logits and not keep_scores and fast_sampling.greedy_token_available()
            and all(type(p).__module__ == "snuggle.generation.logits_process" and hasattr(p, "_banned")
                    for p in state.processors)):
        bans = list(state.processors)
    from_loop = False  # whether `logits` (or `chosen`) came from the loop
    chosen = None  # the token the loop's step picked itself (loop.step_greedy), already in sequences[0, cur]
    try:
        while True:
            if chosen is not None:
                token = chosen
            elif from_loop and bans is not None:
                token = greedy_token(logits.data_ptr(), loop.vocab, [p._banned(cur, loop.vocab) for p in bans],
                                     token_address + cur * token_bytes)
            else:
                if logits is None:
                    logits = state.next_token_logits(outputs)
                if owned_logits:  # a new tensor each step, read by nothing after the processors
                    next_scores = state.processors._process_owned(sequences[:, :cur], logits)
                else:
                    next_scores = state.processors(sequences[:, :cur], logits)
                if config.return_dict_in_generate:
                    if keep_scores:
                        scores += (next_scores,)
                    if keep_logits:
                        raw_logits += (logits,)
                    if outputs is not None:
                        extras.record(outputs)
                outputs = None
                token = argmax_into(next_scores, token_address + cur * token_bytes) if direct else None
            if token is not None:  # already in sequences[0, cur]
                next_tokens = None
                ended_by_eos = single_row_eos is not None and token in single_row_eos
            else:
                if config.do_sample:
                    next_tokens = multinomial_one(torch.softmax(next_scores, dim=-1)).squeeze(1)
                else:
                    next_tokens = torch.argmax(next_scores, dim=-1)
                ended_by_eos = False
                if single_row_eos is not None:
                    ended_by_eos = int(next_tokens) in single_row_eos
                elif has_eos_stopping and rows > 1:
                    next_tokens = torch.where(unfinished, next_tokens, pad_value)
                sequences[:, cur] = next_tokens
            cur += 1
            if streamer is not None:
                streamer.put(next_tokens.cpu() if next_tokens is not None else sequences[:, cur - 1].clone())
            if eos_ids is not None and single_row_eos is None:
                unfinished &= ~torch.isin(next_tokens, eos_ids)
            for criterion in others:
                unfinished &= ~criterion(sequences[:, :cur], scores)
            if cur >= max_length or ended_by_eos or (check_unfinished and not bool(unfinished.any())):
                break
            logits = chosen = None
            if loop is not None:
                if bans is not None and token is not None:
                    chosen = loop.step_greedy(token, [p._banned(cur, loop.vocab) for p in bans],
                                              token_address + cur * token_bytes)
                    if chosen is None:  # read by greedy_token before the next step
                        logits = loop.step_token(token)
                if chosen is None and logits is None:
                    logits = loop.step(sequences[:, cur - 1:cur])
            from_loop = logits is not None or chosen is not None
            if from_loop:
                continue
            if loop is not None:  # the model's own loop cannot take this step: the cache gets its views, then modules
                loop.close()
                loop = None
            outputs = model(**state.step_inputs(
                sequences[:, :cur], None if mask_buffer is None else mask_buffer[:, :cur], next_positions
            ))
            if next_positions is not None:
                next_positions = next_positions + 1
    finally:
        if loop is not None:
            loop.close()

    if streamer is not None:
        streamer.end()
    sequences = sequences[:, :cur].contiguous()  # callers may .view() it, as they can the reference's
    if not config.return_dict_in_generate:
        return sequences
    if state.is_encoder_decoder:
        return GenerateEncoderDecoderOutput(
            sequences=sequences, scores=scores, logits=raw_logits,
            **extras.output_fields(), past_key_values=state.cache,
        )
    return GenerateDecoderOnlyOutput(
        sequences=sequences, scores=scores, logits=raw_logits, **extras.output_fields(),
        past_key_values=state.cache,
    )


# -------------------------------------------------------------------------------------------------------- generate
@torch.no_grad()
def generate(
    model,
    input_ids: torch.LongTensor | None = None,
    attention_mask: torch.Tensor | None = None,
    generation_config: GenerationConfig | None = None,
    logits_processor: LogitsProcessorList | None = None,
    stopping_criteria: StoppingCriteriaList | None = None,
    streamer=None,
    **kwargs,
):
    """Continue `input_ids` (batch, seq; left-padded) with `model`; returns sequences or a Generate*Output.

    Decoder-only models return prompt + new tokens; encoder-decoder models take input_ids as the encoder
    input and return decoder sequences starting with decoder_start_token_id. Any GenerationConfig
    attribute can be passed as a keyword (max_new_tokens, do_sample, num_beams, ...), plus `tokenizer`
    (for stop_strings) and `past_key_values` (a cache holding a prefix of input_ids).

    >>> ids = generate(model, input_ids, max_new_tokens=16)                        # doctest: +SKIP
    >>> out = generate(model, input_ids, num_beams=4, num_return_sequences=2,
    ...                return_dict_in_generate=True, output_scores=True)          # doctest: +SKIP
    >>> out.sequences, out.sequences_scores                                        # doctest: +SKIP
    """
    state = prepare_generation(model, input_ids, attention_mask, generation_config, logits_processor,
                               stopping_criteria, streamer, kwargs)
    if state.config.num_beams > 1:
        from snuggle.generation.beam_search import beam_search

        return beam_search(state)
    threads = torch.get_num_threads()
    # a model may check its layers once per call instead of once per step (see LlamaForCausalLM._decode_session)
    session = getattr(model, "_decode_session", None)
    try:
        with session(state.max_length - state.prompt_length) if session is not None else contextlib.nullcontext():
            return _greedy_or_sample(state)
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
