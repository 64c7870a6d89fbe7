"""The README's recipe for a migration makes one numbered as the repository's are."""

import re
import shutil
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from bot.db import MIGRATIONS, upgrade_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_new_migration_takes_the_next_number(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'dev.db'}"
    upgrade_database(url)
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(PROJECT_ROOT)  # as the recipe runs: alembic.ini from the checkout
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(migrations))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head and head.isdigit()

    command.revision(config, message="what changed", autogenerate=True)

    made = sorted(
        set(p.name for p in (migrations / "versions").glob("*.py"))
        - set(p.name for p in (MIGRATIONS / "versions").glob("*.py"))
    )
    expected = f"{int(head) + 1:04d}"
    assert made == [f"{expected}_what_changed.py"]
    text = (migrations / "versions" / made[0]).read_text()
    assert re.search(rf"^revision: str = ['\"]{expected}['\"]", text, re.M), text
    assert re.search(rf"^down_revision: .*['\"]{head}['\"]", text, re.M), text
