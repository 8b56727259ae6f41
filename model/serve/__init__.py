"""The TF-free serving runtime: a bundle, its tokenizer, decoding, retrieval and the memorisation guard.

Nothing in this folder may import TensorFlow or another training library; tests/test_no_tensorflow.py
imports every module here and checks.
"""
