"""The scopes `textbot doctor` requires are the ones the app is created with."""

from pathlib import Path

import yaml

from bot.doctor import BOT_SCOPES


def test_the_doctor_requires_exactly_the_manifest_bot_scopes() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text())
    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert len(set(BOT_SCOPES)) == len(BOT_SCOPES)
