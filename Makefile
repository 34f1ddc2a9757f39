# The two commands: `make run` serves the app on http://127.0.0.1:3000, `make test` runs every
# test. Each first sets up whatever is missing (scripts/setup.sh).
SHELL := bash
.PHONY: run test setup build rust-test e2e-test

run:
	@scripts/phase.sh setup scripts/setup.sh run
	@scripts/phase.sh build scripts/build.sh release
	cargo run --quiet --release -p server

test:
	@scripts/phase.sh setup scripts/setup.sh test
	@scripts/phase.sh build scripts/build.sh dev
	@scripts/phase.sh rust-tests $(MAKE) --no-print-directory rust-test
	@scripts/phase.sh browser-tests $(MAKE) --no-print-directory e2e-test

# The steps, for working on one part at a time (they assume the set-up has run).
setup:
	scripts/setup.sh test

build:
	scripts/build.sh dev

rust-test:
	cargo test -p app -p server

e2e-test:
	cd end2end && npx playwright test
