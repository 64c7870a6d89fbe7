# The few commands a newcomer needs. Each installs what it needs first (uv, then the
# locked dependencies), so they work on a fresh machine.
UV := ./scripts/uv
PORT ?= 3000

.PHONY: run test lint format bench

run: ## Install, bring the database up to date, serve the bot
	@$(UV) sync --frozen --quiet
	@$(UV) run --frozen textbot db upgrade
	@$(UV) run --frozen textbot serve --port $(PORT)

test: ## Lint and run the whole test suite (SQLite, and PostgreSQL when it answers)
	$(UV) sync --frozen --quiet
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	./scripts/ensure-chromium
	$(UV) run --frozen pytest

bench: ## Run the benchmarks (about 20 minutes) and write docs/benchmarks.md
	@$(UV) sync --frozen --quiet
	@./scripts/ensure-wrk
	$(UV) run --frozen python -m bench

lint:
	$(UV) run --frozen ruff check .
	$(UV) run --frozen mypy

format:
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .
