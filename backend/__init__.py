"""Doppel's serving side: reply API, chat page, X mention poller, local X sandbox.

Never imports TensorFlow: replies come from `model.runtime` (numpy + onnxruntime).
"""
