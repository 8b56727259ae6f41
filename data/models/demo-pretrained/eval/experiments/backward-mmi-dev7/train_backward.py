"""Experiment: a backward model P(message | reply) for MMI reranking (DialoGPT-style).
Same fine-tune as the demo, on the demo's pairs turned around: the prompt holds the
persona's reply, the target is the message it answered. Persona label: "Friend".

    PYTHONPATH=. python train_backward.py train manifest.yaml --out runs/backward
"""
import runpy
import sys

import model.train.training_data as TD

forward_pairs = TD.load_pairs


def backward_pairs(manifest):
    _, _, pairs, summary = forward_pairs(manifest)
    turned = [{**p, "context": [p["reply"]], "context_speakers": [p["persona"]],
               "reply": p["context"][-1], "persona": "Friend"}
              for p in pairs if p["context"] and str(p["context"][-1]).strip()]
    return "Friend", ["Friend"], turned, summary


TD.load_pairs = backward_pairs
sys.argv = ["model", *sys.argv[1:]]
runpy.run_module("model", run_name="__main__")
