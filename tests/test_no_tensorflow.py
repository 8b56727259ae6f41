"""The serving path must never import TensorFlow (docs/architecture.md: Lambda size, cold starts)."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVING_MODULES = ["model.runtime", "model.decode", "model.retrieval", "model.metrics",
                   "model.chat", "model.pretrained.replier", "model.pretrained.assemble",
                   "model.pretrained.base", "model.pretrained.prompt"]
# Training and evaluation libraries: none of them may load on the way to a reply.
FORBIDDEN = ["tensorflow", "keras", "tf2onnx", "onnx", "sklearn", "sacrebleu", "matplotlib",
             "torch"]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_serving_modules_leave_training_libraries_unloaded():
    result = run_python(f"""
        import importlib, json, sys
        for name in {SERVING_MODULES!r}:
            importlib.import_module(name)
        print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
    """)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert "onnxruntime" in loaded and "numpy" in loaded
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)


def test_an_accidental_import_fails_loudly_under_a_blocking_finder():
    result = run_python(f"""
        import importlib, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] in {FORBIDDEN!r}:
                    raise ImportError('blocked in the serving path: ' + name)
                return None

        sys.meta_path.insert(0, Block())
        for name in {SERVING_MODULES!r}:
            importlib.import_module(name)
        try:
            import tensorflow  # the blocker itself must work, or this test proves nothing
        except ImportError as exc:
            print('blocked:', exc)
        else:
            sys.exit('blocker did not block')
    """)
    assert result.returncode == 0, result.stderr
    assert "blocked: blocked in the serving path: tensorflow" in result.stdout
