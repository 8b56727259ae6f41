"""Doppel's model package: chat exports -> messages -> pairs -> model -> replies.

    data/    chat exports -> messages -> training pairs; the training manifest
    train/   the Keras nets, training, ONNX export (TensorFlow)
    serve/   the TF-free runtime that answers from a bundle
    eval/    evaluation, reports, blind grading, canaries
    cli.py, errors.py, files.py, pii.py, text.py   shared by all of the above (and by
             backend/ and deploy/)

Nothing here imports train/ or eval/, so `import model` and `model.serve` stay
TensorFlow-free for serving.
"""
