"""The embedded model's baseline: llama.cpp (through llama-cpp-python) on the same GGUF, the same
prompt and token count, greedy, 2 threads, no stop rule. Prints one line per run, in the format of
the chat benchmark, then the median. Usage: python llama_cpp_baseline.py MODEL.gguf PROMPT TOKENS RUNS"""

import sys
import time

from llama_cpp import Llama

model_path, prompt, count, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=model_path, n_ctx=4096, n_threads=2, n_batch=512, verbose=False)
tokens = llm.tokenize(prompt.encode(), add_bos=True, special=False)
rates = []
for run in range(1, runs + 1):
    llm.reset()
    started = time.perf_counter()
    first = None
    generated = 0
    for _ in llm.generate(tokens, temp=0.0, top_k=1, reset=True):
        if first is None:
            first = time.perf_counter()
        else:
            generated += 1
        if generated == count:
            break
    rate = generated / (time.perf_counter() - first)
    rates.append(rate)
    print(
        f"  run {run}: prompt {len(tokens)} tokens at {len(tokens) / (first - started):.0f} tokens/s; "
        f"generation {generated} tokens at {rate:.1f} tokens/s",
        flush=True,
    )
rates.sort()
print(f"median generation tokens/s: {rates[len(rates) // 2]:.2f}")
