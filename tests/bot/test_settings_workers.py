"""The workers (Ray) settings: typed, blank means unset, the token never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.app import engine_arguments, engine_spec, ray_options
from bot.settings import Settings


def test_defaults_are_the_local_worker() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.workers, settings.ray_address, settings.ray_workers) == ("local", None, None)
    assert settings.ray_gpus_per_worker == 1.0 and settings.ray_auth_token is None


def test_ray_settings_reach_the_pool_and_the_token_stays_hidden() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        ANIMATEBOT_WORKERS="ray",
        RAY_ADDRESS="10.0.0.5:6379",
        ANIMATEBOT_RAY_WORKERS="3",
        ANIMATEBOT_RAY_GPUS_PER_WORKER="0",
        RAY_AUTH_TOKEN="very-secret-token",
    )
    assert "very-secret-token" not in repr(settings) and "very-secret-token" not in str(settings.model_dump())
    options = ray_options(settings)
    assert (options.address, options.workers, options.gpus_per_worker) == ("10.0.0.5:6379", 3, 0.0)
    assert options.token == "very-secret-token"
    assert "very-secret-token" not in repr(options)


def test_blank_values_mean_unset() -> None:
    settings = Settings(_env_file=None, RAY_ADDRESS="", ANIMATEBOT_RAY_WORKERS="", RAY_AUTH_TOKEN="")  # type: ignore[call-arg]
    assert (settings.ray_address, settings.ray_workers, settings.ray_auth_token) == (None, None, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ANIMATEBOT_WORKERS", "gpu"), ("ANIMATEBOT_RAY_WORKERS", "0"), ("ANIMATEBOT_RAY_GPUS_PER_WORKER", "-1")],
)
def test_bad_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(_env_file=None, **{name: value})  # type: ignore[call-arg]


def test_ray_actors_build_the_engine_the_local_worker_would() -> None:
    settings = Settings(
        _env_file=None, ANIMATEBOT_PIPELINE="tiny", ANIMATEBOT_VAE_DTYPE="float16", ANIMATEBOT_BASE_MODEL="dreamshaper"
    )  # type: ignore[call-arg]
    spec = engine_spec(settings, steps=2)
    assert spec.target == "generation.engine:create_engine" and spec.is_tiny
    assert spec.kwargs == engine_arguments(settings, steps=2)
    assert spec.kwargs["vae_dtype"] == "float16" and spec.kwargs["base_model"] == "dreamshaper"
    assert spec.kwargs["steps"] == 2
