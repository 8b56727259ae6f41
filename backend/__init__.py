"""Doppel's serving side, by concern:

    web/     the reply API and chat page (Flask; gunicorn or Lambda)
    bots/    the X and Telegram bots, their shared rules and ledger
    local/   stand-ins for X and Telegram and `make run` (never imported by web/ or bots/)
    config.py  every serving setting

Never imports TensorFlow: replies come from `model.serve` (numpy + onnxruntime).
"""
