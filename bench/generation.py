"""Generation benchmark: snuggle `model.generate` vs transformers on SmolLM2-135M-Instruct, the same workload in one run.

Both libraries load the same fp32 safetensors folder (bench/smollm2.py) and get the same token ids (the
prompt is rendered once with the reference tokenizer's chat template).

- greedy: one chat prompt, 128 new tokens (min_new_tokens = max_new_tokens, so both produce exactly 128),
  tokens per second; the greedy tokens of the two libraries are compared;
- batch: 8 different chat prompts (left-padded), sampled (do_sample=True, seeded), 128 new tokens each,
  total new tokens per second;
- roofline: decoding one token reads every weight once (the tied embedding once, as lm_head), so
  tokens/s cannot exceed DRAM bandwidth / fp32 weight bytes. The bandwidth is measured here (best of a
  large tensor sum and copy with the same torch threads), and the greedy rate is printed as a % of it;
  each timed snuggle run is also compared with a best-of burst measured just before it and with the
  sustained read bandwidth (median pass over a weights-sized buffer for 0.5 s) before and after it.

- the greedy screen: by default snuggle's greedy steps find their token through an int8 copy of the LM head
  that bounds every logit, computing only the few that can be the largest in fp32 (llama_inference.screen_head;
  the token is the argmax of the fp32 logits, and the tokens are compared with transformers'). A step then reads
  the layers' fp32 weights, the 28 MB screen and a few fp32 panels instead of the 113 MB head, so it can pass
  the fp32 roofline; its share of its own roofline (the bytes it reads) is printed too. snuggle is also timed
  without the screen (`SNUGGLE_GREEDY_SCREEN=0`: every logit computed, the fp32 roofline applies).

Prints `name: snuggle/transformers = ratio` lines (ours / theirs in tokens per second; goals: greedy >= 1.8x
and >= 85% of the roofline, batch >= 2x), absolute rates and the torch thread count.

    .venv/bin/python bench/generation.py [--repeat 2] [--new-tokens 128] [--only greedy|batch] [--static]
                                         [--breakdown]

`--static` also times snuggle with cache_implementation="static" (preallocated KV cache). `--breakdown`
splits snuggle's decode step time into its C calls (in generate's decode loop one call runs the layers, the
final norm and the LM head; through the modules the layers and the LM head product are two) and the rest
(Python, embedding, logits processors, argmax, cache bookkeeping), per token.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.smollm2 import smollm2_fp32_folder  # noqa: E402

CHAT_PROMPTS = [
    "Write a short story about a robot learning to paint.",
    "Explain why the sky is blue to a ten-year-old.",
    "Give me three tips for writing clean Python code.",
    "What is the capital of France, and what is it famous for?",
    "Summarize the plot of Romeo and Juliet in a few sentences.",
    "How do plants make their food?",
    "Write a haiku about autumn rain.",
    "List some healthy breakfast ideas.",
]


# ------------------------------------------------------------------------------------------------------- measuring
def _ones(numel: int, huge_pages: bool) -> torch.Tensor:
    from snuggle.utils import hugepages

    return hugepages.empty((numel,)).fill_(1.0) if huge_pages else torch.ones(numel, dtype=torch.float32)


def dram_bandwidth_gbps(megabytes: int = 512, repeat: int = 5) -> tuple[float, float]:
    """(best of a streaming sum (reads) and a copy (read + write), the sum alone) over a tensor far larger than
    any cache, in GB/s. The roofline uses the first (the stricter one where copies run faster than reads). Both
    are measured on ordinary memory and, where the system has them, on huge pages (as snuggle's packed weights
    use; a sum streams ~3% faster there), and the best counts."""
    from snuggle.utils import hugepages

    numel = megabytes * 1024 * 1024 // 4
    best_sum = best_copy = float("inf")
    for huge_pages in (False, True) if hugepages.available() else (False,):
        source, target = _ones(numel, huge_pages), _ones(numel, huge_pages)
        for _ in range(repeat):
            start = time.perf_counter()
            source.sum()
            best_sum = min(best_sum, time.perf_counter() - start)
            start = time.perf_counter()
            target.copy_(source)
            best_copy = min(best_copy, time.perf_counter() - start)
        del source, target
        gc.collect()
    nbytes = numel * 4
    return max(nbytes / best_sum, 2 * nbytes / best_copy) / 1e9, nbytes / best_sum / 1e9


class SustainedBandwidth:
    """The read bandwidth a stream keeps up over a while: a weights-sized buffer summed again and again (the same
    torch threads) for `seconds`, the median pass. Measured right before and right after a timed run, its mean
    is the bandwidth the run had to work with, a better yardstick on a machine whose bandwidth moves from
    minute to minute than one best-of burst."""

    def __init__(self, nbytes: int) -> None:
        from snuggle.utils import hugepages

        self.buffer = _ones(nbytes // 4, hugepages.available())  # the faster kind of memory (see dram_bandwidth_gbps)

    def __call__(self, seconds: float = 0.5) -> float:
        passes, start = [], time.perf_counter()
        while time.perf_counter() - start < seconds or len(passes) < 3:
            begin = time.perf_counter()
            self.buffer.sum()
            passes.append(time.perf_counter() - begin)
        passes.sort()
        return self.buffer.numel() * 4 / passes[len(passes) // 2] / 1e9


def weight_bytes(model) -> int:
    """Bytes of distinct parameter storage (tied or fused weights counted once)."""
    seen, total = set(), 0
    for parameter in model.parameters():
        key = (parameter.untyped_storage().data_ptr(), parameter.storage_offset(), parameter.numel())
        if key not in seen:
            seen.add(key)
            total += parameter.numel() * parameter.element_size()
    return total


def best_time(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


# --------------------------------------------------------------------------------------------------------- loading
def load(folder: str):
    import transformers

    from snuggle.models import AutoModelForCausalLM

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    reference = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    ours = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    return tokenizer, reference, ours


def chat_inputs(tokenizer, prompts: list[str]) -> dict:
    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        for p in prompts
    ]
    encoded = tokenizer(texts, return_tensors="pt", padding=True)
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


def generate_with(model, inputs: dict, new_tokens: int, **kwargs):
    return model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kwargs)


# --------------------------------------------------------------------------------------------------------- reports
def report(name: str, ours: float, theirs: float, unit: str = "tok/s") -> None:
    print(f"{name}: snuggle/transformers = {ours / theirs:.2f}x  ({ours:.1f} vs {theirs:.1f} {unit})", flush=True)


class _Screen:
    """The greedy screen's setting during a variant's runs (`SNUGGLE_GREEDY_SCREEN`, read at each generate call),
    and what it did (`_gemv.screen_counts`)."""

    def __init__(self, on: bool) -> None:
        self.on, self.saved = on, None

    def __enter__(self):
        self.saved = os.environ.get("SNUGGLE_GREEDY_SCREEN")
        os.environ["SNUGGLE_GREEDY_SCREEN"] = "1" if self.on else "0"
        return self

    def __exit__(self, *exc) -> None:
        if self.saved is None:
            os.environ.pop("SNUGGLE_GREEDY_SCREEN", None)
        else:
            os.environ["SNUGGLE_GREEDY_SCREEN"] = self.saved

    @staticmethod
    def counts() -> tuple:
        from snuggle.models import llama_inference

        gemv = llama_inference._gemv
        return gemv.screen_counts() if gemv is not None and hasattr(gemv, "screen_counts") else (0, 0, 0)


def bytes_read_screened(ours, calls: int, full: int, candidates: int) -> float:
    """Bytes a screened greedy step streams: every weight but the LM head, the head's int8 screen, the fp32 panels
    of its candidates (at most one 48-column panel each), and the whole head on steps that fell back to it."""
    from snuggle.models import llama_inference

    head = ours.lm_head.weight
    screen = llama_inference.screen_head(ours.lm_head, make=False)
    if screen is None or calls == 0:
        return float(weight_bytes(ours))
    screen_bytes = sum(part.numel() * part.element_size() for part in screen)
    head_bytes = head.numel() * head.element_size()
    panel_bytes = head.shape[1] * llama_inference.PANEL * 4
    return (weight_bytes(ours) - head_bytes + screen_bytes + candidates / calls * panel_bytes
            + full / calls * head_bytes)


def bench_greedy(tokenizer, reference, ours, args, roofline: float) -> None:
    inputs = chat_inputs(tokenizer, CHAT_PROMPTS[:1])
    prompt = inputs["input_ids"].shape[1]
    # snuggle as it runs by default (greedy steps through the LM head's int8 screen), and without the screen (every
    # logit computed: the fp32 roofline is its bound)
    variants = [("snuggle", ours, {}, True), ("snuggle without the greedy screen", ours, {}, False)]
    if args.static:
        variants.append(("snuggle static cache", ours, {"cache_implementation": "static"}, True))
    for _, model, extra, screen in [("transformers", reference, {}, False), *variants]:
        # warm-up, as long as a timed run: one-time work (snuggle packs its weights in a call of >= 128 new
        # tokens, ~0.3-0.6 s here, and makes the screen, ~0.1 s) stays out of the timings, which measure the
        # steady state of repeated calls
        with _Screen(screen):
            generate_with(model, inputs, args.new_tokens, do_sample=False, **extra)
    reference_time, reference_out = best_time(
        lambda: generate_with(reference, inputs, args.new_tokens, do_sample=False), args.repeat
    )
    reference_rate = args.new_tokens / reference_time
    nbytes = weight_bytes(ours)
    sustained = SustainedBandwidth(nbytes)
    for label, model, extra, screen in variants:
        # the bandwidth moves with the machine's other tenants: also measure it right before each timed run (a
        # best-of burst, like the roofline's) and around it (sustained, before and after)
        shares, bracketed, our_time, our_out = [], [], float("inf"), None
        with _Screen(screen):
            for _ in range(args.repeat):
                before = sustained()
                adjacent = dram_bandwidth_gbps(repeat=3)[0] * 1e9
                gc.collect()
                counts = _Screen.counts()
                start = time.perf_counter()
                our_out = generate_with(model, inputs, args.new_tokens, do_sample=False, **extra)
                elapsed = time.perf_counter() - start
                counts = [after - start_count for start_count, after in zip(counts, _Screen.counts())]
                after = sustained()
                read = bytes_read_screened(ours, *counts)  # all the fp32 weights without the screen
                our_time = min(our_time, elapsed)
                shares.append(100 * args.new_tokens / elapsed / (adjacent / read))
                bracketed.append((100 * args.new_tokens / elapsed / ((before + after) / 2 * 1e9 / read),
                                  before, after))
        our_rate = args.new_tokens / our_time
        same = our_out[:, prompt:].tolist() == reference_out[:, prompt:].tolist()
        suffix = "" if label == "snuggle" else f" [{label}]"
        report(f"greedy SmolLM2-135M fp32, {args.new_tokens} new tokens{suffix}", our_rate, reference_rate)
        print(f"  fp32 roofline {roofline:.1f} tok/s: snuggle {100 * our_rate / roofline:.0f}%, "
              f"transformers {100 * reference_rate / roofline:.0f}%; greedy tokens identical: {same}", flush=True)
        if screen and counts[0]:
            own = roofline * nbytes / read
            print(f"  screened steps: {counts[0]}, {counts[2] / counts[0]:.1f} candidate logits computed a step, "
                  f"{counts[1]} fell back to every logit; snuggle reads {read / 1e6:.0f} of the {nbytes / 1e6:.0f} "
                  f"MB a token: its own roofline {own:.1f} tok/s, snuggle {100 * our_rate / own:.0f}% of it",
                  flush=True)
        print(f"  each snuggle run against the bandwidth measured just before it (for the bytes it reads): "
              f"{', '.join(f'{share:.0f}%' for share in shares)}", flush=True)
        print(f"  each snuggle run against the sustained read bandwidth around it: "
              + ", ".join(f"{share:.0f}% ({before:.0f}/{after:.0f} GB/s)" for share, before, after in bracketed),
              flush=True)


def bench_batch(tokenizer, reference, ours, args) -> None:
    inputs = chat_inputs(tokenizer, CHAT_PROMPTS)
    rows = inputs["input_ids"].shape[0]
    sampling = {"do_sample": True, "temperature": 0.8, "top_p": 0.95, "top_k": 50}

    def run(model):
        torch.manual_seed(0)
        return generate_with(model, inputs, args.new_tokens, **sampling)

    for model in (reference, ours):
        generate_with(model, inputs, args.new_tokens, **sampling)  # warm-up (see bench_greedy)
    reference_time, _ = best_time(lambda: run(reference), args.repeat)
    our_time, _ = best_time(lambda: run(ours), args.repeat)
    total = rows * args.new_tokens
    report(f"batch of {rows} sampled chat prompts, {args.new_tokens} new tokens each (total tokens/s)",
           total / our_time, total / reference_time)


class _TimedKernels:
    """Stands in for the `_gemv` module and adds up the wall time of its decoder_layers and gemv calls."""

    def __init__(self, module):
        self.module, self.seconds = module, {"decoder_layer": 0.0, "step": 0.0, "gemv": 0.0}

    def __getattr__(self, name):
        return getattr(self.module, name)

    def _timed(self, key, name, *args):
        start = time.perf_counter()
        result = getattr(self.module, name)(*args)
        self.seconds[key] += time.perf_counter() - start
        return result

    def decoder_layers(self, *args):
        # with the final norm and LM head arguments (generate's DecodeLoop) the call is the whole step
        return self._timed("step" if len(args) > 11 else "decoder_layer", "decoder_layers", *args)

    def gemv(self, *args):
        return self._timed("gemv", "gemv", *args)


def bench_breakdown(tokenizer, ours, args) -> None:
    """Per-token decode time of snuggle (best of --repeat greedy runs): C layers, LM head, everything else."""
    from snuggle.models import llama_inference

    if llama_inference._gemv is None:
        print("breakdown: the _gemv extension is not built (setup.py build_ext)", flush=True)
        return
    inputs = chat_inputs(tokenizer, CHAT_PROMPTS[:1])
    best = None
    for _ in range(args.repeat):
        timed = _TimedKernels(llama_inference._gemv)
        llama_inference._gemv = timed
        try:
            generate_with(ours, inputs, 1, do_sample=False)  # prefill + first token: subtracted below
            prefill = time.perf_counter()
            generate_with(ours, inputs, 1, do_sample=False)
            prefill = time.perf_counter() - prefill
            for key in timed.seconds:
                timed.seconds[key] = 0.0
            start = time.perf_counter()
            generate_with(ours, inputs, args.new_tokens, do_sample=False)
            total = time.perf_counter() - start - prefill
        finally:
            llama_inference._gemv = timed.module
        if best is None or total < best[0]:
            best = (total, dict(timed.seconds))
    total, seconds = best
    steps = args.new_tokens - 1  # decode steps after the first token
    parts = {"C step (layers, final norm, LM head)": seconds["step"], "C layers": seconds["decoder_layer"],
             "LM head": seconds["gemv"]}
    parts = {name: value / steps * 1e3 for name, value in parts.items() if value / steps >= 0.5e-3}
    per_token = total / steps * 1e3
    shown = " + ".join(f"{name} {value:.2f} ms" for name, value in parts.items())
    print(f"breakdown per decode step ({_kernel_label()}): {per_token:.2f} ms = {shown} + rest "
          f"{per_token - sum(parts.values()):.2f} ms; load {os.getloadavg()[0]:.2f}", flush=True)


def _kernel_label() -> str:
    from snuggle.models import llama_inference

    return f"kernels {llama_inference._gemv.kernel_name()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--only", choices=["greedy", "batch"])
    parser.add_argument("--static", action="store_true", help="also time snuggle with a static KV cache")
    parser.add_argument("--breakdown", action="store_true", help="split snuggle's decode step time (see above)")
    args = parser.parse_args()

    folder = smollm2_fp32_folder()
    tokenizer, reference, ours = load(folder)
    bandwidth, read_bandwidth = dram_bandwidth_gbps()
    nbytes = weight_bytes(ours)
    roofline = bandwidth * 1e9 / nbytes
    print(f"torch threads: {torch.get_num_threads()} (cpu count {os.cpu_count()}); measured DRAM bandwidth "
          f"{bandwidth:.1f} GB/s (reads alone {read_bandwidth:.1f}); fp32 weights {nbytes / 1e6:.0f} MB -> roofline "
          f"{roofline:.1f} tok/s; load average {os.getloadavg()[0]:.2f}", flush=True)
    if args.only in (None, "greedy"):
        bench_greedy(tokenizer, reference, ours, args, roofline)
    if args.only in (None, "batch"):
        bench_batch(tokenizer, reference, ours, args)
    if args.breakdown:
        bench_breakdown(tokenizer, ours, args)


if __name__ == "__main__":
    main()
