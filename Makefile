# spinshim: the commands a newcomer needs.
#   make demo      build, start a private registry + containerd 1.7, push
#                  images/hello with `spinshim push`, run it with the shim
#                  (ctr run --runtime io.containerd.spin.v2), curl it
#   make up-demo   build, serve images/hello with `spinshim up`, curl it, stop it
#   make test      everything CI runs: lint, then unit and integration tests
#                  against a private registry + containerd 1.7 + containerd 2.x
#                  (scripts/test.sh; `make test TEST_ARGS="--test rig_smoke"`)
#   make bench     benchmarks (never part of `make test`): spinshim up vs
#                  wasmtime serve, the shim through containerd 1.7, start-up,
#                  memory per pod, criterion; writes docs/PERFORMANCE.md and
#                  docs/perf/*.png (scripts/bench.sh, ~20 min; needs root)
#   make bench-quick  the same with fewer and shorter runs (~5 min)
#   make fuzz      cargo-fuzz (nightly) on every target for FUZZ_SECONDS
#                  (default 1800) each; merges new coverage into fuzz/corpus
CARGO ?= cargo
TEST_ARGS ?=

.PHONY: all deps build images test lint fmt demo up-demo clean bench bench-quick soak fuzz

all: build

# Debian packages the build needs (apt only for what is missing).
deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --release --workspace

images:
	scripts/build-images.sh

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# Tests run against release builds: guest components compile in seconds
# there, and the integration tests start the real binaries.
test:
	scripts/test.sh $(TEST_ARGS)

demo:
	scripts/demo.sh

# Churn and soak (not in make test): 1,000 pod lifecycles through containerd
# and 100,000 mixed requests; writes docs/RELIABILITY.md. SOAK_* tune it.
soak:
	scripts/soak.sh

# Coverage-guided fuzzing (not in make test, which runs the same targets
# for a bounded time on stable): see scripts/fuzz.sh.
fuzz:
	scripts/fuzz.sh

# Benchmarks: scripts/bench.sh installs its tools, builds, measures and
# writes the report. BENCH_* variables tune it (see the script's header).
bench:
	scripts/bench.sh

bench-quick:
	BENCH_MODE=quick BENCH_REPS=2 BENCH_DURATION=3 BENCH_WARMUP=1 BENCH_COLD_RUNS=5 \
	BENCH_MEM_REPS=1 BENCH_CRITERION_ARGS="--warm-up-time 1 --measurement-time 2" \
	scripts/bench.sh

up-demo: images build
	scripts/up-demo.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf images/target
