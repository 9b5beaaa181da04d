"""compute_transition_scores: the score of each generated token, from generate's per-step scores.

For beam search the per-step scores are indexed by the beam each token came from (`beam_indices`);
summing a row and dividing by generated_length ** length_penalty gives back `sequences_scores`.

>>> out = model.generate(ids, num_beams=4, return_dict_in_generate=True, output_scores=True)   # doctest: +SKIP
>>> model.compute_transition_scores(out.sequences, out.scores, out.beam_indices)              # doctest: +SKIP
"""

from __future__ import annotations

import torch

from snuggle.errors import ConfigError


def compute_transition_scores(
    sequences: torch.Tensor,
    scores: tuple[torch.Tensor, ...],
    beam_indices: torch.Tensor | None = None,
    normalize_logits: bool = False,
) -> torch.Tensor:
    """(rows, generated) score of each generated token; 0 where a beam had already finished.

    sequences: generate's output (rows, prompt + generated); scores: one (beam_rows, vocab) tensor per step;
    beam_indices: (rows, generated) flat beam index per token (None for greedy/sampling: row i is beam i);
    normalize_logits: log_softmax the scores first (when they were raw logits).
    """
    if not scores:
        raise ConfigError("compute_transition_scores: `scores` is empty; generate with output_scores=True")
    vocab_size = scores[0].shape[-1]
    if beam_indices is None:
        beam_indices = torch.arange(scores[0].shape[0], device=sequences.device).view(-1, 1).expand(-1, len(scores))
    # (beam_rows * vocab, steps): column t holds step t's scores for every beam, flattened
    stacked = torch.stack(scores).reshape(len(scores), -1).transpose(0, 1)
    if normalize_logits:
        stacked = stacked.reshape(-1, vocab_size, stacked.shape[-1])
        stacked = torch.nn.functional.log_softmax(stacked, dim=1).reshape(-1, stacked.shape[-1])
    finished = beam_indices < 0
    length = int((1 - finished.long()).sum(-1).max())
    beam_indices = beam_indices.clone()[:, :length]
    finished = finished[:, :length]
    beam_indices[finished] = 0
    indices = sequences[:, sequences.shape[-1] - length:] + beam_indices * vocab_size
    transition = stacked.gather(0, indices)
    transition[finished] = 0
    return transition
