"""Give a bundle trained before head token lists its list, as training now writes it:

    python add_head_tokens.py MANIFEST BUNDLE && python -m model export BUNDLE
                                                  (from the repository root)

The list is model.train.pretrained.bundle_writer.head_tokens over the manifest's training
examples (the same split by conversation as the fine-tune's).
"""
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.getcwd())
from model.data.manifest import load_manifest
from model.files import atomic_output
from model.train.pretrained.bundle_writer import HEAD_TOKENS_FILE, head_tokens
from model.train.pretrained.finetune import prepare_pretrained

data = prepare_pretrained(load_manifest(Path(sys.argv[1])))
tokens = head_tokens(data.train, data.base.config.vocab,
                     (data.codec.end_id, data.codec.newline_id))
with atomic_output(Path(sys.argv[2]) / HEAD_TOKENS_FILE, mode="wb") as handle:
    np.save(handle, tokens)
print(f"{len(data.train)} training examples -> {len(tokens)} head tokens")
