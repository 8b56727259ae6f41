"""Fine-tuning a pretrained llama base: the Keras net, the trainer, the bundle and its ONNX graph.

tests/llama_reference.py is the independent numpy forward both nets are checked against.
"""
