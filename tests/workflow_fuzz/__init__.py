"""Hypothesis strategies for ComfyUI workflows, valid and broken, in both formats.

Valid ones are built from node types every ComfyUI has (their inputs, widgets and outputs
read from an ``object_info``), wired only where the types match; broken ones are valid
ones with a wrong type put somewhere, or with a shape that once broke the upload (cycles,
deep nesting, subgraph bombs, huge counts). See ``tests/conftest.py`` for the profiles.
"""
