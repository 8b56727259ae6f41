"""backend/config.py: every setting from one place, bad environment values refused."""

from __future__ import annotations

import pytest

from backend.config import SETTINGS, load_config
from model.errors import InputError


@pytest.mark.parametrize("env, value, message", [
    ("X_POLL_INTERVAL_S", "0", "expected a number above 0, got 0.0"),  # the poller spun
    ("DOPPEL_BATCH_MAX", "0", "expected a number above 0, got 0"),  # nothing answered
    ("DOPPEL_RATE_LIMIT_PER_S", "-1", "expected a number >= 0, got -1.0"),
    ("DOPPEL_BATCH_WAIT_MS", "nan", "expected a number >= 0, got nan"),
    ("TELEGRAM_BURST_S", "inf", "expected a number >= 0, got inf"),
    ("DOPPEL_SESSION_TURNS", "six", "invalid literal for int()"),
])
def test_a_bad_number_is_refused_naming_the_variable(env, value, message):
    with pytest.raises(InputError, match=f"bad value for {env}: {message}"):
        load_config(environ={env: value})


def test_zero_is_off_where_the_documentation_says_so_and_defaults_are_in_range():
    assert load_config(environ={"DOPPEL_RATE_LIMIT_PER_S": "0"})["rate_limit_per_s"] == 0
    for setting in SETTINGS.values():
        assert setting.check(setting.default) == setting.default, setting.env
