"""smooth: and upscale: in the /animate grammar (issue 22)."""

import pytest

from bot.commands.grammar import CommandError, format_animate, parse_animate


@pytest.mark.parametrize(
    ("text", "smooth", "upscale"),
    [
        ("a kite smooth:2", 2, 1.0),
        ("a kite smooth:x4", 4, 1.0),
        ("a kite upscale:1.5", 1, 1.5),
        ("a kite upscale:2x smooth:2", 2, 2.0),
    ],
)
def test_parsed_and_written_back(text, smooth, upscale):
    params = parse_animate(text).params
    assert (params.smooth, params.upscale) == (smooth, upscale)
    assert parse_animate(format_animate(params)).params == params


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a kite smooth:3", "smooth must be one of 2, 4 (got '3')"),
        ("a kite upscale:4", "upscale must be one of 1.5, 2 (got '4')"),
        ("a kite upscale:big", "upscale must be one of 1.5, 2 (got 'big')"),
        ("a kite smooth:4 fps:24", "smooth:4 at fps:24 would play at 96 fps; at most 50 plays everywhere"),
    ],
)
def test_bad_values_get_one_clear_line(text, message):
    with pytest.raises(CommandError) as caught:
        parse_animate(text)
    assert str(caught.value).startswith(message), str(caught.value)
