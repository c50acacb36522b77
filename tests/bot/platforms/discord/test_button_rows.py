"""Discord's action rows: at most five buttons a row and five rows a message, whatever the card holds."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.chat import Button
from bot.platforms.discord.render import ROW_MAX, ROWS_MAX, button_rows, clip_view
from bot.service.replies import buttons, set_buttons


def _rows_of(view_buttons: tuple[Button, ...]) -> Counter[int]:
    view = clip_view(view_buttons)
    return Counter(item.row for item in view.children if item.row is not None)


@pytest.mark.parametrize("takes", [2, 4])
def test_a_set_gets_a_row_per_take_then_its_own_buttons(takes: int) -> None:
    rows = button_rows(set_buttons(7, takes))
    assert [{b.variant for b in row} for row in rows[:takes]] == [{t} for t in range(1, takes + 1)]
    assert all(b.variant is None for row in rows[takes:] for b in row)
    assert len(rows) <= ROWS_MAX and all(len(row) <= ROW_MAX for row in rows)


def test_a_single_clip_card_fits_discord_limits() -> None:
    card = buttons(7)
    rows = _rows_of(card)
    assert sum(rows.values()) == len(card) and max(rows.values()) <= ROW_MAX and len(rows) <= ROWS_MAX


def test_too_many_rows_fall_back_to_five_a_row_and_stop_at_25() -> None:
    many = tuple(Button("pick", 3, f"Pick {t}", variant=t) for t in range(1, 7)) + tuple(
        Button("reroll", n, "Reroll") for n in range(1, 25)
    )
    rows = _rows_of(many)
    assert len(rows) == ROWS_MAX and set(rows.values()) == {ROW_MAX}
    flat = [b for row in button_rows(many) for b in row]
    assert flat == list(many[: ROW_MAX * ROWS_MAX])
