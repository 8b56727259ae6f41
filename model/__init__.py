"""Doppel's model package: chat exports -> messages -> pairs -> model -> replies.

Modules that import TensorFlow (training, export) are never imported from here, so
`import model` and `import model.runtime` stay TensorFlow-free for serving.
"""
