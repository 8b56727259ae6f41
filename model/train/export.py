"""`python -m model export BUNDLE`: cut the trained model into two ONNX graphs.

    encoder.onnx       context_ids int32 [B, S] -> memory float32 [B, S, H], state_* …
    decoder_step.onnx  token int32 [B], persona int32 [B], memory [B, S, H],
                       memory_mask float32 [B, S], state_* … -> logits [B, V], next_state_* …

ONNX forbids an output named like an input it does not pass through, so the updated
states are named `next_<state>`, in the same (sorted) order as the state inputs.

The bundle is verified against bundle.json's sha256s first, as `chat` and `eval` do: export
records hashes, and must not vouch for a damaged file. The graphs are written to a
temporary folder and checked against Keras (logits within 1e-4, identical greedy tokens
on fixed inputs); only then do they replace the bundle's files, and bundle.json records
their new hashes (the other files' are kept). A failed run leaves the bundle as it was.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from model.cli import whole_number
from model.errors import InputError
from model.files import atomic_output
from model.serve.bundle import read_bundle, verify_bundle, write_bundle
from model.serve.tokenizer import Tokenizer

OPSET = 17
TOLERANCE = 1e-4
GRAPH_FILES = ("encoder.onnx", "decoder_step.onnx")
NEXT = "next_"  # prefix of the step graph's updated-state outputs
PARITY_CONTEXTS = [  # (turns, speakers): short, long, multi-turn, <brk>, emoji, other scripts
    (["hi"], [None]),
    (["are you coming tonight?", "it starts at 8 <brk> bring snacks"], [None, None]),
    (["what did you think of the movie 😀"], [None]),
    (["¿dónde estás?", "我在家", "ok"], [None, None, None]),
    (["so I was thinking we could go hiking this weekend if the weather is nice, "
      "what do you think about that plan?"], [None]),
]


class ExportError(InputError):
    """The ONNX graphs disagree with Keras; the bundle was left unchanged."""


def add_arguments(parser) -> None:
    parser.add_argument("bundle", help="bundle folder (keras/model.keras, or a pretrained "
                        "bundle's delta.npz)")
    parser.add_argument("--threads", type=whole_number, default=0,
                        help="TensorFlow CPU threads (0: its own choice)")


def run(args) -> int:
    if read_bundle(args.bundle).get("kind") == "pretrained":
        from model.serve.pretrained.assemble import DELTA_FILE
        from model.train.pretrained.bundle_writer import export_pretrained

        # the graph is assembled from the bundle's files: a damaged one is refused first
        verify_bundle(args.bundle, required=(DELTA_FILE,))
        report = export_pretrained(Path(args.bundle))["export"]
        print(f"exported {args.bundle}: the 8-bit serving graph is within "
              f"{report['max_logit_diff']:.3f} of the Keras logits on {report['prompts']} "
              "prompts", file=sys.stderr)
        return 0
    report = export_bundle(Path(args.bundle), threads=args.threads)
    print(f"exported {args.bundle}: max |logit diff| {report['max_logit_diff']:.2e}, "
          f"greedy identical on {report['inputs']} inputs", file=sys.stderr)
    return 0


def inference_for(model, kind: str):
    if kind == "transformer":
        from model.train.transformer import TransformerInference as Inference
    else:
        from model.train.seq2seq import LstmInference as Inference
    return Inference(model)


def export_bundle(bundle_dir: Path, threads: int = 0) -> dict:
    """Write both graphs into `bundle_dir` after the parity check; returns its report."""
    from model.train.nets import load_keras_model, setup_tensorflow
    from model.train.training_data import KERAS_FILE

    bundle_dir = Path(bundle_dir)
    meta = verify_bundle(bundle_dir, required=(KERAS_FILE, "tokenizer.json"))
    tf, _ = setup_tensorflow(0, threads)
    inference = inference_for(load_keras_model(bundle_dir / KERAS_FILE, compile=False),
                              meta["kind"])
    tokenizer = Tokenizer.load(bundle_dir)
    with tempfile.TemporaryDirectory(prefix=".export.", dir=bundle_dir) as tmp:
        staged = {name: Path(tmp) / name for name in GRAPH_FILES}
        encoder_fn, step_fn = graph_functions(tf, inference)
        _convert(encoder_fn, staged["encoder.onnx"])
        _convert(step_fn, staged["decoder_step.onnx"])
        report = parity_check(inference, staged, tokenizer, len(meta["personas"]))
        if report["max_logit_diff"] > TOLERANCE or not report["greedy_identical"]:
            raise ExportError(f"ONNX disagrees with Keras (max |logit diff| "
                              f"{report['max_logit_diff']:.2e}, greedy identical: "
                              f"{report['greedy_identical']}); bundle unchanged", str(bundle_dir))
        for name, path in staged.items():
            os.replace(path, bundle_dir / name)
    write_bundle(bundle_dir, {**meta, "export": {**report, "opset": OPSET}}, written=GRAPH_FILES)
    return report


def graph_functions(tf, inference):
    """tf.functions with the contract's input names and dynamic batch/length axes."""
    memory_spec = tf.TensorSpec([None, None, inference.memory_dim], tf.float32, name="memory")
    state_specs = inference.state_specs()

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="context_ids")])
    def encoder(context_ids):
        return inference.encode(context_ids)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.int32, name="token"),
        tf.TensorSpec([None], tf.int32, name="persona"),
        memory_spec,
        tf.TensorSpec([None, None], tf.float32, name="memory_mask"),
        *(state_specs[name] for name in inference.state_names),
    ])
    def decoder_step(token, persona, memory, memory_mask, *states):
        outputs = inference.step(token, persona, memory, memory_mask,
                                 dict(zip(inference.state_names, states, strict=True)))
        return {NEXT + name if name != "logits" else name: value
                for name, value in outputs.items()}

    return encoder, decoder_step


def _convert(function, path: Path) -> None:
    import tf2onnx

    model_proto, _ = tf2onnx.convert.from_function(
        function, input_signature=function.input_signature, opset=OPSET)
    with atomic_output(path, mode="wb") as handle:
        handle.write(model_proto.SerializeToString())


# --- parity ---------------------------------------------------------------------------


def keras_functions(inference):
    """(encode, step) over the Keras inference cut, with numpy in and out: the same
    call shapes as the ONNX sessions, so one greedy loop drives both."""

    def encode(ids):
        return {name: np.asarray(value) for name, value in inference.encode(ids).items()}

    def step(feeds):
        states = {name: feeds[name] for name in inference.state_names}
        outputs = inference.step(feeds["token"], feeds["persona"], feeds["memory"],
                                 feeds["memory_mask"], states)
        return {name: np.asarray(value) for name, value in outputs.items()}

    return encode, step


def parity_check(inference, graphs: dict[str, Path], tokenizer: Tokenizer,
                 n_personas: int) -> dict:
    """Run fixed inputs through Keras and ONNX; greedy-decode both and compare."""
    import onnxruntime as ort

    sessions = {name: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                for name, path in graphs.items()}
    contexts = [tokenizer.encode_context(turns, speakers) or [tokenizer.sep_id]
                for turns, speakers in PARITY_CONTEXTS]
    width = max(map(len, contexts))
    context_ids = np.array([ids + [0] * (width - len(ids)) for ids in contexts], np.int32)
    personas = (np.arange(len(contexts)) % n_personas).astype(np.int32)

    def onnx_encoder(ids):
        session = sessions["encoder.onnx"]
        names = [output.name for output in session.get_outputs()]
        return dict(zip(names, session.run(None, {"context_ids": ids}), strict=True))

    def onnx_step(feeds):
        session = sessions["decoder_step.onnx"]
        names = [output.name.removeprefix(NEXT) for output in session.get_outputs()]
        return dict(zip(names, session.run(None, feeds), strict=True))

    keras_encoder, keras_step = keras_functions(inference)
    decoded = [greedy_decode(encode, step, context_ids, personas, tokenizer, inference.state_names)
               for encode, step in ((keras_encoder, keras_step), (onnx_encoder, onnx_step))]
    (keras_tokens, keras_logits), (onnx_tokens, onnx_logits) = decoded
    encoder_diff = max(float(np.abs(value - onnx_encoder(context_ids)[name]).max(initial=0.0))
                       for name, value in keras_encoder(context_ids).items())
    logit_diff = max(float(np.abs(a - b).max())
                     for a, b in zip(keras_logits, onnx_logits, strict=False))
    return {"inputs": len(contexts), "max_logit_diff": logit_diff,
            "max_encoder_diff": encoder_diff,
            "greedy_identical": bool(np.array_equal(keras_tokens, onnx_tokens))}


def greedy_decode(encode, step, context_ids, personas, tokenizer, state_names,
                  max_len: int | None = None):
    """Batched greedy decoding with any (encode, step) pair; returns tokens and logits.

    tokens: int [B, L] (L = max_len; eos repeats once a row has finished);
    logits: list of [B, V] per step, for the parity comparison.
    """
    max_len = max_len or tokenizer.max_reply_tokens
    encoded = encode(context_ids)
    feeds = {"memory": encoded["memory"],
             "memory_mask": (context_ids != 0).astype(np.float32),
             "persona": personas,
             "token": np.full(len(context_ids), tokenizer.bos_id, np.int32),
             **{name: encoded[name] for name in state_names}}
    finished = np.zeros(len(context_ids), bool)
    tokens, all_logits = [], []
    for _ in range(max_len):
        outputs = step(feeds)
        all_logits.append(outputs["logits"])
        chosen = np.where(finished, tokenizer.eos_id, outputs["logits"].argmax(-1)).astype(np.int32)
        finished |= chosen == tokenizer.eos_id
        tokens.append(chosen)
        feeds.update({name: outputs[name] for name in state_names}, token=chosen)
        if finished.all():
            break
    return np.stack(tokens, axis=1), all_logits
