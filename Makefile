# The two commands: `make run` serves the app on http://127.0.0.1:3000, `make test` runs every
# test. Each first sets up whatever is missing (scripts/setup.sh).
SHELL := bash
.PHONY: run test setup build lint rust-test e2e-test bench

run:
	@scripts/phase.sh setup scripts/setup.sh run
	@scripts/phase.sh build scripts/build.sh release
	cargo run --quiet --release -p server

test:
	@scripts/phase.sh setup scripts/setup.sh test
	@scripts/phase.sh build scripts/build.sh dev
	@scripts/phase.sh lint $(MAKE) --no-print-directory lint
	@scripts/phase.sh rust-tests $(MAKE) --no-print-directory rust-test
	@scripts/phase.sh browser-tests $(MAKE) --no-print-directory e2e-test

# The steps, for working on one part at a time (they assume the set-up has run).
setup:
	scripts/setup.sh test

build:
	scripts/build.sh dev

# Formatting, and clippy on both targets with warnings (missing docs on public items among them)
# as errors.
lint:
	cargo fmt --all --check
	cargo clippy --quiet -p llm -p app -p server --all-targets -- -D warnings
	cargo clippy --quiet -p frontend --target wasm32-unknown-unknown -- -D warnings

# The server's integration suite runs twice: on SQLite, then on a throw-away PostgreSQL. The
# second run leaves out the tests that spend minutes in the embedded model's answers, the camera
# assistant's test and its evaluation set (their queries are the camera tools', which the
# scripted-model tests run on both). The same packages as above, so that the test binary is the
# one built there.
rust-test:
	cargo test -p llm -p app -p server
	scripts/with-postgres.sh cargo test -p llm -p app -p server --test api -- \
		--skip agents::the_camera_assistant_answers_from_the_events_with_the_embedded_model \
		--skip agents::the_camera_assistant_answers_questions_it_was_not_tuned_on_from_the_data

e2e-test:
	cd end2end && ../scripts/with-postgres.sh npx playwright test

# The benchmarks (after `make test`'s set-up and build). The language-model engine is
# compared with llama.cpp on the same file, through llama-cpp-python (compiled once into
# .bench-venv/, about 10 minutes).
# llama.cpp's CPU kernels for the instruction sets of the reference machine, named (a native
# build detects them, but crashed once there).
LLAMA_CPP_CPU = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON

bench:
	test -x .bench-venv/bin/python || python3 -m venv .bench-venv
	.bench-venv/bin/python -c 'import llama_cpp' 2>/dev/null || CMAKE_ARGS="$(LLAMA_CPP_CPU)" \
		.bench-venv/bin/pip install --quiet --no-cache-dir llama-cpp-python==0.3.36
	scripts/with-postgres.sh --durable cargo bench -p server --bench ingest
	scripts/with-postgres.sh --durable cargo bench -p server --bench replicas
	cargo bench -p server --bench inference
	cargo bench -p server --bench chat
	BENCH_LLAMA_CPP_PYTHON=$(CURDIR)/.bench-venv/bin/python cargo bench -p llm --bench speed
	cargo bench -p server --bench render
	cargo bench -p server --bench assistant
