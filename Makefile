# The two commands (see README):  make run   |   make test
.PHONY: run test venv web lint format bench serve-deps test-deps

run: serve-deps venv web
	.venv/bin/gridserve db upgrade
	.venv/bin/gridserve seed demo
	.venv/bin/gridserve run --host 127.0.0.1 --port 8000 --with-scheduler

test: test-deps venv web
	bash .ci/test.sh

serve-deps:
	@bash .ci/os-deps.sh spatialite

test-deps:
	@bash .ci/os-deps.sh spatialite postgis chromium nginx

venv:
	@bash .ci/venv.sh

web:
	@bash .ci/web.sh

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: venv
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: test-deps venv
	bash .ci/postgres.sh gridserve_bench
	.venv/bin/python -m bench
