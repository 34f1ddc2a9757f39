"""The embedded model's baseline: llama.cpp (through llama-cpp-python) on the same GGUF, the same
prompt and Gemma's chat template, greedy, 2 threads. Prints one line per run, in the format of the
chat benchmark. Usage: python llama_cpp_baseline.py MODEL.gguf PROMPT MAX_TOKENS RUNS"""

import sys
import time

from llama_cpp import Llama

model_path, prompt, max_tokens, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=model_path, n_ctx=4096, n_threads=2, n_batch=512, verbose=False)
text = f"<start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n"
tokens = llm.tokenize(text.encode(), add_bos=True, special=True)
rates = []
for run in range(1, runs + 1):
    llm.reset()
    started = time.perf_counter()
    first = None
    generated = 0
    for token in llm.generate(tokens, temp=0.0, top_k=1, reset=True):
        if first is None:
            first = time.perf_counter() - started
        if token in (llm.token_eos(), 106) or generated >= max_tokens:
            break
        generated += 1
    total = time.perf_counter() - started
    rates.append((generated - 1) / (total - first))
    print(
        f"  run {run}: prompt {len(tokens)} tokens at {len(tokens) / first:.0f} tokens/s "
        f"(first token after {first * 1000:.0f} ms); generation {generated} tokens at "
        f"{(generated - 1) / (total - first):.1f} tokens/s",
        flush=True,
    )
rates.sort()
print(f"median generation tokens/s: {rates[len(rates) // 2]:.2f}")
