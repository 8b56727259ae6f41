"""The serving side must never import TensorFlow (docs/architecture.md: Lambda size, cold starts).

The boundary is the layout: every module under model/serve/, the shared helpers at the
root of model/, and all of backend/ are imported here, with no list to keep up to date.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Training and evaluation libraries: none of them may load on the way to a reply.
FORBIDDEN = ["tensorflow", "keras", "tf2onnx", "onnx", "sklearn", "sacrebleu", "matplotlib",
             "torch"]


def module_names(folder: Path, recursive: bool = True) -> list[str]:
    files = folder.rglob("*.py") if recursive else folder.glob("*.py")
    names = []
    for path in sorted(files):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


SERVING_MODULES = (module_names(ROOT / "model" / "serve")
                   + module_names(ROOT / "model", recursive=False)
                   + module_names(ROOT / "backend"))


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_serving_folders_are_found():
    assert {"model.serve.runtime", "model.serve.pretrained.replier", "model.pii",
            "backend.web.app", "backend.bots.x.poller"} <= set(SERVING_MODULES)
    assert not [name for name in SERVING_MODULES if name.startswith(("model.train", "model.eval"))]


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
