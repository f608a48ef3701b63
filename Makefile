# Thin wrapper over CMake: `make run` and `make test` work on a fresh Debian 12.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
DEB_BUILD  ?= build-deb
PREFIX     ?= /usr/local
DESTDIR    ?=
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan run test test-unit test-asan install deb docs-graph docs-options bench fuzz soak format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSLUICE_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)

$(TSAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TSAN=ON

build-tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j$(JOBS)

run: build
	$(BUILD)/bin/sluice -c configs/quickstart.conf

# Every test: unit + integration in the normal build, unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the queue, pool and
# engine tests under ThreadSanitizer (any race fails them).
test: build build-asan build-tsan
	cd $(BUILD) && ctest --output-on-failure -j2
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L unit -j2
	cd $(TSAN_BUILD) && ctest --output-on-failure -L unit -j2

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

# DESTDIR stages the install (for packagers): make install DESTDIR=/tmp/root
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package (sluice_VERSION_ARCH.deb in $(DEB_BUILD)/) for /usr, from a
# build of its own: the binary looks for plugins in /usr/lib/<arch>/sluice and
# never in a build tree.
deb: deps
	cmake -S . -B $(DEB_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	  -DSLUICE_SEARCH_BUILD_DIR=OFF -DSLUICE_TESTS=OFF
	cmake --build $(DEB_BUILD) -j$(JOBS)
	cd $(DEB_BUILD) && cpack -G DEB

# The picture of the example pipeline the README shows.
docs-graph: build
	$(BUILD)/bin/sluice -c docs/pipeline.conf --graph | dot -Tsvg -o docs/pipeline.svg

# The crash soak's long form (its short form runs in make test): 20 kill -9 per
# pipeline, lost and duplicated counts printed per pipeline.
soak: build
	SLUICE=$(abspath $(BUILD))/bin/sluice SLUICE_PLUGIN_PATH=$(abspath $(BUILD))/plugins \
	  SLUICE_BUILD_DIR=$(abspath $(BUILD)) SLUICE_SOURCE_DIR=$(CURDIR) \
	  SOAK_KILLS=20 SOAK_LINES=200000 SOAK_KAFKA_MESSAGES=40000 SOAK_RABBIT_MESSAGES=40000 \
	  sh -c 'bash tests/integration/test_crash_soak.sh && bash tests/integration/test_crash_soak_rabbitmq.sh'

docs-options: build
	bash scripts/options-doc.sh $(BUILD) > docs/options.md

# Every benchmark; the figures also go to $(BUILD)/bench.txt, and
# bench/plot.sh draws them as docs/throughput.svg (gnuplot).
bench: build
	@: > $(BUILD)/bench.txt; for b in bench/*.sh; do [ "$$b" = bench/plot.sh ] && continue; \
	  echo "== $$b" | tee -a $(BUILD)/bench.txt; \
	  SLUICE=$(abspath $(BUILD))/bin/sluice SLUICE_PLUGIN_PATH=$(abspath $(BUILD))/plugins \
	  SLUICE_BUILD_DIR=$(abspath $(BUILD)) bash $$b > $(BUILD)/bench.last || \
	  { cat $(BUILD)/bench.last; exit 1; }; tee -a $(BUILD)/bench.txt < $(BUILD)/bench.last; done
	bash bench/plot.sh $(BUILD)/bench.txt docs/throughput.svg

# Every libFuzzer target for FUZZ_SECONDS (default 300) each; make test runs them briefly.
FUZZ_SECONDS ?= 300
fuzz: deps
	@for t in tests/fuzz/fuzz_*.c; do n=$$(basename $$t .c); n=$${n#fuzz_}; \
	  echo "== fuzz_$$n ($(FUZZ_SECONDS) s)"; \
	  bash tests/fuzz/run.sh $$n $(FUZZ_SECONDS) || exit 1; done

format:
	git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(DEB_BUILD)
