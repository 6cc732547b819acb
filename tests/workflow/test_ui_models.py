"""The model files an editor workflow names on its loaders (as ComfyUI's templates do),
read into metadata entries: top level and subgraphs, once each, a sha256 only when it is
one, entries of the wrong shape passed over."""

from __future__ import annotations

from comfyui_pipe.workflow.ui_models import template_models

URL = "https://huggingface.co/org/repo/resolve/main/model.safetensors"


def loader(*models: object) -> dict[str, object]:
    return {"id": 1, "type": "CheckpointLoaderSimple", "properties": {"models": list(models)}}


def test_models_named_on_loaders_and_inside_subgraphs_become_metadata_entries() -> None:
    workflow = {
        "nodes": [
            loader({"name": "a.safetensors", "url": URL, "directory": "checkpoints"}),
            {"id": 2, "type": "Note", "properties": {}},
        ],
        "links": [],
        "definitions": {
            "subgraphs": [
                {
                    "nodes": [
                        loader(
                            {
                                "name": "v.safetensors",
                                "url": URL,
                                "directory": "vae",
                                "hash": "AB" * 32,
                                "hash_type": "SHA256",
                            },
                            {
                                "name": "a.safetensors",
                                "url": "elsewhere",
                                "directory": "checkpoints",
                            },
                        )
                    ]
                }
            ]
        },
    }

    assert template_models(workflow) == [
        {"folder": "checkpoints", "filename": "a.safetensors", "url": URL},
        {"folder": "vae", "filename": "v.safetensors", "url": URL, "sha256": "ab" * 32},
    ]


def test_a_sha256_is_kept_only_when_the_hash_is_one() -> None:
    digest = "cd" * 32
    found = template_models(
        {
            "nodes": [
                loader(
                    {"name": "s.pt", "directory": "loras", "hash": digest, "hash_type": "sha256"},
                    {"name": "m.pt", "directory": "loras", "hash": digest, "hash_type": "md5"},
                    {"name": "n.pt", "directory": "loras", "hash": "0a1b"},
                )
            ],
            "links": [],
        }
    )

    assert found == [
        {"folder": "loras", "filename": "s.pt", "url": "", "sha256": digest},
        {"folder": "loras", "filename": "m.pt", "url": ""},
        {"folder": "loras", "filename": "n.pt", "url": ""},
    ]


def test_entries_of_the_wrong_shape_are_passed_over() -> None:
    workflow = {
        "nodes": [
            loader("a string", {"name": "", "directory": "checkpoints"}, {"name": "x.pt"}),
            {"id": 3, "properties": {"models": "not a list"}},
            {"id": 4, "properties": None},
            "not a node",
        ],
        "links": [],
        "definitions": {"subgraphs": "nope"},
    }

    assert template_models(workflow) == []
