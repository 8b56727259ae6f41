"""Training (TensorFlow/Keras): the nets, the trainer, ONNX export. Never imported by serving."""
