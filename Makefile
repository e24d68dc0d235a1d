# The two commands: `make run` and `make test`. Everything else is a helper.
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
BUILD   ?= build
SANBUILD ?= build-san

.PHONY: all deps deps-test build build-san run test test-plain test-sanitize bench bench-quick clean

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

# Builds, then runs the service on the embedded default (SQLite store and
# queue under ./hookloop-data, HTTP API on 127.0.0.1:8080).
run: build
	./$(BUILD)/hookloop serve

# Builds and runs the whole suite twice: plain, then under ASan+UBSan.
test: deps-test
	$(MAKE) test-plain
	$(MAKE) test-sanitize

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-sanitize: build-san
	cd $(SANBUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

bench:
	@scripts/install-deps.sh bench
	$(MAKE) build
	bench/run.sh full

bench-quick:
	@scripts/install-deps.sh bench
	$(MAKE) build
	bench/run.sh quick

clean:
	rm -rf $(BUILD) $(SANBUILD)
