# The two commands: `make run` and `make test`. Everything else is a helper.
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
SANBUILD ?= build-san
FUZZBUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
# The fuzz targets need clang (libFuzzer); scripts/install-deps.sh test installs clang-14.
FUZZ_CC ?= $(shell command -v clang-14 || command -v clang || echo clang-14)

.PHONY: all deps deps-test build build-san build-fuzz run test test-plain test-sanitize test-fuzz fuzz \
        bench bench-quick bench-tls bench-destinations soak analyze clean

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

build-san: deps
	cmake -S . -B $(SANBUILD) -DCMAKE_BUILD_TYPE=Debug -DHOOKLOOP_SANITIZE=ON >/dev/null
	cmake --build $(SANBUILD) -j $(JOBS)

# The libFuzzer targets (fuzz/, docs/fuzzing.md): clang, ASan+UBSan, no test suite.
build-fuzz: deps-test
	cmake -S . -B $(FUZZBUILD) -DCMAKE_C_COMPILER=$(FUZZ_CC) -DCMAKE_BUILD_TYPE=Debug \
	  -DHOOKLOOP_FUZZ=ON -DHOOKLOOP_TESTS=OFF >/dev/null
	cmake --build $(FUZZBUILD) -j $(JOBS)

# Builds, then runs the service on the embedded default (SQLite store and
# queue under ./hookloop-data, HTTP API on 127.0.0.1:8080).
run: build
	./$(BUILD)/hookloop serve

# Builds and runs the whole suite twice: plain, then under ASan+UBSan; then
# replays every fuzz corpus and crash input and fuzzes each target briefly.
test: deps-test
	$(MAKE) test-plain
	$(MAKE) test-sanitize
	$(MAKE) test-fuzz

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-sanitize: build-san
	cd $(SANBUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

test-fuzz: build-fuzz
	cd $(FUZZBUILD) && ctest --output-on-failure -j $(JOBS)

# Runs every fuzz target for FUZZ_SECONDS (JOBS at a time), unattended: a
# crash is saved and fuzzing goes on. One summary line per target at the end
# (also in $(FUZZBUILD)/fuzz/summary.txt).
fuzz: build-fuzz
	FUZZ_TARGETS="$(FUZZ_TARGETS)" fuzz/run.sh fuzz $(FUZZBUILD)/fuzz $(FUZZ_SECONDS) $(JOBS)

# cppcheck and clang's static analyzer (clang-tidy's clang-analyzer-*) over
# src/, from a compile database in ANALYZEBUILD; reports for a reader, not a
# gate (docs/static-analysis.md holds the triage). Not part of `make test`.
ANALYZEBUILD ?= build-analyze
analyze:
	@scripts/install-deps.sh analyze
	scripts/analyze.sh $(ANALYZEBUILD) $(JOBS)

# One hour (SOAK_SECONDS) of mixed traffic with partner faults; RSS, fds and
# /healthz latency sampled every 10 s into SOAK_CSV; fails on a lost event or
# figures that do not stay flat (docs/reliability.md). Not part of `make test`.
SOAK_SECONDS ?= 3600
SOAK_CSV ?= $(CURDIR)/$(BUILD)/soak.csv
soak: build
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CSV=$(SOAK_CSV) nice -n 10 ./$(BUILD)/tests/faults/hl_soak

bench:
	@scripts/install-deps.sh bench
	$(MAKE) build
	bench/run.sh full

bench-quick:
	@scripts/install-deps.sh bench
	$(MAKE) build
	bench/run.sh quick

# Issue 19: deliveries over TLS beside h2load, handshakes per 10,000 (bench/README.md).
bench-tls:
	@scripts/install-deps.sh bench
	$(MAKE) build
	bench/tls/run.sh 3 10000

# Issue 16: deliveries per CPU second to SNS, SQS, EventBridge beside HTTP (bench/README.md).
bench-destinations:
	@scripts/install-deps.sh bench
	$(MAKE) build
	BENCH_RUNS=3 ./$(BUILD)/bench/aws/bench_destinations

clean:
	rm -rf $(BUILD) $(SANBUILD) $(FUZZBUILD)
