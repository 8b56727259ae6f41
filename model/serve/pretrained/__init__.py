"""Serving a pretrained (llama GGUF) bundle: the base, ChatML prompts, weight assembly, the Replier."""
