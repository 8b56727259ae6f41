"""How fast does a bundle answer? Our TF-free runtime against the Keras ways, in one run.

    python bench/reply.py [BUNDLE] [--runs 15] [--threads 1]

Prints medians over --runs of:
  - one reply at batch 1 with the bundle's default decoding (our runtime);
  - greedy decoding of exactly 20 tokens at batch 1: our runtime, Keras `predict` per step
    (the keras-io seq2seq way, model loaded from the bundle's keras/), and the same
    encoder/step as `tf.function`s (what export converts), so ratios are same-run;
  - replies per second at batch 16 and 64 (default decoding);
  - import + bundle load time and RSS of a fresh serving process.
Every engine is limited to --threads CPU threads (default 1: "one core"). Each figure is
given as wall time and as process CPU time (see median_ms).
Targets: greedy >= 100x the predict loop; default <= 20 ms/reply; import+load <= 0.5 s;
RSS <= 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MESSAGES = ["hey! how was your weekend?", "do you like dogs or cats more?",
            "what are you studying these days", "i just got back from the gym lol",
            "any plans for tonight?", "that movie was so good, did you see it?"]
GREEDY_20 = {"strategy": "greedy", "min_len": 20, "max_len": 20, "repetition_penalty": 1.0,
             "no_repeat_ngram": 0, "rerank": 0}
FRESH_PROCESS = """
import json, resource, sys, time
start, cpu = time.perf_counter(), time.process_time()
from model.serve.load import load_replier
from model.serve.runtime import Replier
replier = load_replier(sys.argv[1], threads=int(sys.argv[2]))
loaded, loaded_cpu = time.perf_counter() - start, time.process_time() - cpu
replier.reply("hey, how are you?", seed=1)
rss = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import_load_s": loaded, "import_load_cpu_s": loaded_cpu, "rss_mb": rss, "peak_rss_mb": peak,
                  "tensorflow_loaded": "tensorflow" in sys.modules}))
"""


def median_ms(fn, runs: int) -> tuple[float, float]:
    """Median (wall, process CPU) milliseconds of fn(i) over `runs` calls.

    CPU time is reported too because this machine is shared: on a busy box, wall time
    includes waiting for a core, while CPU time stays close to the unloaded wall time of
    single-threaded work.
    """
    fn(0)  # warm-up: first runs pay for lazy allocations
    walls, cpus = [], []
    for i in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(i)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def fresh_process(bundle: Path, threads: int, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(bundle), str(threads)],
                             cwd=ROOT, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout))
    return {key: statistics.median(r[key] for r in results) if key != "tensorflow_loaded"
            else any(r[key] for r in results) for key in results[0]}


def keras_engines(bundle: Path, threads: int):
    """(predict-loop greedy, tf.function greedy) callables for the bundle's keras/ model."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from model.serve.bundle import read_bundle
    from model.train.export import NEXT, graph_functions, inference_for
    from model.train.nets import load_keras_model, setup_tensorflow
    from model.train.training_data import KERAS_FILE

    tf, keras = setup_tensorflow(0, threads)
    meta = read_bundle(bundle)
    inference = inference_for(load_keras_model(bundle / KERAS_FILE, compile=False), meta["kind"])
    names = inference.state_names
    # The keras-io way: an encoder Model and a one-step decoder Model, `predict` per step.
    context_in = keras.Input((None,), dtype="int32", name="context_ids")
    encoder_model = keras.Model(context_in, inference.encode(context_in))
    token_in = keras.Input((), dtype="int32", name="token")
    persona_in = keras.Input((), dtype="int32", name="persona")
    memory_in = keras.Input((None, inference.memory_dim), name="memory")
    mask_in = keras.Input((None,), name="memory_mask")
    specs = inference.state_specs()
    states_in = {name: keras.Input(tuple(specs[name].shape[1:]), dtype=specs[name].dtype.name,
                                   name=name) for name in names}
    step_model = keras.Model([token_in, persona_in, memory_in, mask_in, *states_in.values()],
                             inference.step(token_in, persona_in, memory_in, mask_in, states_in))
    encoder_fn, step_fn = graph_functions(tf, inference)

    def predict_loop(context_ids, persona, bos, steps):
        encoded = encoder_model.predict(context_ids, verbose=0)
        mask = (context_ids != 0).astype(np.float32)
        token, states, out = np.array([bos], np.int32), [encoded[n] for n in names], []
        for _ in range(steps):
            result = step_model.predict([token, persona, encoded["memory"], mask, *states],
                                        verbose=0)
            token = result["logits"].argmax(-1).astype(np.int32)
            states = [result[n] for n in names]
            out.append(int(token[0]))
        return out

    def function_loop(context_ids, persona, bos, steps):
        encoded = encoder_fn(tf.constant(context_ids))
        mask = tf.constant((context_ids != 0).astype(np.float32))
        token, states, out = tf.constant([bos], tf.int32), [encoded[n] for n in names], []
        for _ in range(steps):
            result = step_fn(token, tf.constant(persona), encoded["memory"], mask, *states)
            token = tf.cast(tf.argmax(result["logits"], axis=-1), tf.int32)
            states = [result[NEXT + n] for n in names]
            out.append(int(token.numpy()[0]))
        return out

    return predict_loop, function_loop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "data/models/demo")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-keras", action="store_true", help="skip the TensorFlow engines")
    args = parser.parse_args()
    from model.serve.load import load_replier
    from model.serve.runtime import ReplyRequest

    figures: dict[str, tuple[float, float]] = {}  # name -> (wall, cpu)
    fresh = fresh_process(args.bundle, args.threads, runs=5)
    replier = load_replier(args.bundle, threads=args.threads)
    tok = replier.tokenizer

    def ours(settings):
        return lambda i: replier.reply(MESSAGES[i % len(MESSAGES)], **settings, seed=i)

    figures["ours default ms/reply"] = median_ms(ours({}), args.runs)
    figures["ours greedy-20 ms"] = median_ms(ours(GREEDY_20), args.runs)
    for batch in (16, 64):
        requests = [ReplyRequest(MESSAGES[i % len(MESSAGES)], [], None, {"seed": i})
                    for i in range(batch)]
        wall, cpu = median_ms(lambda _i, r=requests: replier.reply_batch(r),
                              max(3, args.runs // 3))
        figures[f"ours default replies/s @ batch {batch}"] = (batch / wall * 1000,
                                                              batch / cpu * 1000)
    if not args.no_keras:
        predict_loop, function_loop = keras_engines(args.bundle, args.threads)
        persona = np.array([0], np.int32)

        def keras(loop):
            def run(i):
                ids = tok.encode_context([MESSAGES[i % len(MESSAGES)]]) or [tok.sep_id]
                loop(np.array([ids], np.int32), persona, tok.bos_id, 20)
            return run

        figures["keras predict-loop greedy-20 ms"] = median_ms(keras(predict_loop),
                                                               max(3, args.runs // 3))
        figures["tf.function greedy-20 ms"] = median_ms(keras(function_loop), args.runs)
        for name, engine in (("predict loop", "keras predict-loop greedy-20 ms"),
                             ("tf.function", "tf.function greedy-20 ms")):
            figures[f"speed-up vs {name} (x)"] = tuple(
                theirs / ours for theirs, ours in zip(figures[engine],
                                                      figures["ours greedy-20 ms"], strict=True))
    figures["fresh process import+load s"] = (fresh["import_load_s"], fresh["import_load_cpu_s"])
    figures["fresh process RSS MB (after 1 reply)"] = (fresh["rss_mb"], fresh["rss_mb"])
    figures["fresh process peak RSS MB"] = (fresh["peak_rss_mb"], fresh["peak_rss_mb"])
    print(f"bundle {args.bundle} ({replier.meta.get('kind')}, "
          f"{replier.meta.get('hyperparameters', {}).get('units')} units), "
          f"threads={args.threads}, runs={args.runs}, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"default decoding: {replier.decoding}")
    width = max(map(len, figures))
    print(f"{'':<{width}}  {'wall':>10}  {'cpu':>10}")
    for name, (wall, cpu) in figures.items():
        print(f"{name:<{width}}  {wall:10.2f}  {cpu:10.2f}")
    if fresh["tensorflow_loaded"]:
        print("WARNING: the serving process imported TensorFlow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
