# SPDX-License-Identifier: Apache-2.0
# Top-level entry points. `make run` starts the server on ./sextant-data;
# `make test` builds with AddressSanitizer + UBSan and runs the whole ctest
# suite (unit, conformance, fuzz corpus replay, short fuzz runs, e2e).
# Both install the Debian packages they need first (scripts/deps.sh).

JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:4318
DATA ?= ./sextant-data
FUZZ_SECONDS ?= 10

.PHONY: all deps build run test test-deps asan fuzz-build fuzz-run bench clean format

all: build

deps:
	@bash scripts/deps.sh build

build: deps
	@cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build/release -j$(JOBS)

run: build
	@echo "sextant: serving on http://$(LISTEN), data in $(DATA)"
	@./build/release/sextant serve --listen $(LISTEN) --data $(DATA)

test-deps:
	@bash scripts/deps.sh test

asan: test-deps
	@cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSX_ASAN=ON -DSX_UBSAN=ON >/dev/null
	@cmake --build build/asan -j$(JOBS)

fuzz-build: test-deps
	@CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSX_FUZZ=ON >/dev/null
	@cmake --build build/fuzz -j$(JOBS)

# Each libFuzzer target runs briefly from its committed corpus.
fuzz-run: fuzz-build
	@bash tests/fuzz/run.sh build/fuzz/tests/fuzz $(FUZZ_SECONDS)

test: asan fuzz-run
	@cd build/asan && ctest --output-on-failure -j$(JOBS) --timeout 900

bench: test-deps
	@bash bench/ingest.sh

format:
	@clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'bench/*.c')

clean:
	rm -rf build
