"""``PYTHONPATH=tests python -m comfyui_real``: install the real ComfyUI kit, when there is
one and it is not installed yet (``scripts/test`` runs this before the tests)."""

from comfyui_real.kit import build, default_environment, kit_folder, kit_present


def main() -> int:
    kit = kit_folder()
    if not kit_present(kit):
        print(f"real ComfyUI kit: none at {kit}; the real_comfyui tests will be skipped")
        return 0
    env = default_environment()
    if env.is_built_from(kit):
        print(f"real ComfyUI kit: {env.root} is up to date")
        return 0
    build(kit, env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
