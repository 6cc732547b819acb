"""What a user types inline in a chat message."""

import pytest

from comfyui_pipe.generation import LoraRequest, RequestError, parse_message, parse_size


def test_each_flag_is_read_and_the_rest_is_the_prompt() -> None:
    parsed = parse_message("a lighthouse --ar 16:9 --steps 30 --cfg 6.5 --seed 42 --n 3 at dusk")
    assert parsed.prompt == "a lighthouse at dusk"
    options = parsed.options
    assert (options.aspect, options.width, options.height) == ((16, 9), None, None)
    assert (options.steps, options.cfg, options.seed, options.count) == (30, 6.5, 42, 3)
    assert options.negative_prompt is None


def test_size_flag_bare_size_and_count_alias() -> None:
    assert parse_message("a cat --size 1024x768").options.width == 1024
    bare = parse_message("a 768x1024 portrait of a cat --count 2")
    assert bare.prompt == "a portrait of a cat"
    assert (bare.options.width, bare.options.height, bare.options.count) == (768, 1024, 2)


def test_negative_prompt_runs_to_the_next_flag() -> None:
    parsed = parse_message("a fox --no blurry, text, watermark --steps 12")
    assert parsed.options.negative_prompt == "blurry, text, watermark"
    assert parsed.options.steps == 12
    assert parsed.prompt == "a fox"


def test_dashes_a_chat_input_typeset_still_start_flags() -> None:
    # Open WebUI's message box turns a typed "--steps" into "—steps".
    parsed = parse_message("a red fox in the snow \u2014steps 12 \u2013seed 1234")
    assert parsed.prompt == "a red fox in the snow"
    assert (parsed.options.steps, parsed.options.seed) == (12, 1234)
    assert parse_message("a castle \u2014 gothic style").prompt == "a castle \u2014 gothic style"


def test_lora_tags_with_and_without_strength() -> None:
    parsed = parse_message("a castle <lora:film_grain:0.8> in fog <lora:detail.safetensors>")
    assert parsed.prompt == "a castle in fog"
    assert parsed.options.loras == [
        LoraRequest("film_grain", 0.8),
        LoraRequest("detail.safetensors", 1.0),
    ]


def test_a_plain_message_has_no_options() -> None:
    parsed = parse_message("  two cats   sharing a--sofa  ")
    assert parsed.prompt == "two cats sharing a--sofa"
    assert not parsed.options.has_size
    assert parsed.options.loras == []


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("a cat --style anime", "Unknown option --style. Options: --ar 16:9"),
        ("a cat --steps many", "'many' is not a whole number; write it like --steps 30."),
        ("a cat --cfg", "--cfg needs a value."),
        ("a cat --ar 16-9", "Aspect ratio '16-9' is not understood; write it like --ar 16:9."),
        ("a cat --ar 16:0", "Aspect ratio 16:0 has a zero side"),
        ("a cat --size big", "Size 'big' is not understood; write it like --size 1024x768."),
        ("a cat --no", "--no needs the things to avoid"),
    ],
)
def test_mistakes_are_explained(text: str, sentence: str) -> None:
    with pytest.raises(RequestError) as raised:
        parse_message(text)
    assert str(raised.value).startswith(sentence)


def test_a_user_default_size_is_a_size_or_an_aspect_ratio() -> None:
    assert (parse_size("1024x768").width, parse_size("1024x768").height) == (1024, 768)
    assert parse_size("3:2").aspect == (3, 2)
    assert not parse_size("").has_size
    with pytest.raises(RequestError):
        parse_size("large")
