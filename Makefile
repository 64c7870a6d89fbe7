# The few commands a newcomer needs. Each installs what it needs first (uv, then the
# locked dependencies), so they work on a fresh machine.
UV := ./scripts/uv
# Syncs compile the packages' bytecode, so that commands start at once even where Python
# may not write it (PYTHONDONTWRITEBYTECODE, a read-only checkout).
PORT ?= 3000

.PHONY: run test lint format bench

run: ## Install, bring the database up to date, serve the bot
	@$(UV) sync --frozen --quiet --compile-bytecode
	@$(UV) run --frozen textbot db upgrade
	@# Exit status 3 is a first run: the set-up steps were printed, nothing failed.
	@$(UV) run --frozen textbot serve --port $(PORT) || [ $$? -eq 3 ]

test: ## Lint and run the whole test suite (SQLite, and PostgreSQL when it answers)
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	./scripts/ensure-chromium
	$(UV) run --frozen pytest -n 3

bench: ## Run the benchmarks (about 20 minutes) into docs/benchmarks.md; ARGS="--only 3" runs part
	@$(UV) sync --frozen --quiet --compile-bytecode
	@./scripts/ensure-wrk
	$(UV) run --frozen python -m bench $(ARGS)

lint:
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

format:
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .
