# spinshim: the commands a newcomer needs.
#   make demo      build, start a private registry + containerd 1.7, push
#                  images/hello with `spinshim push`, run it with the shim
#                  (ctr run --runtime io.containerd.spin.v2), curl it
#   make up-demo   build, serve images/hello with `spinshim up`, curl it, stop it
#   make test      everything CI runs: lint, then unit and integration tests
#                  against a private registry + containerd 1.7 + containerd 2.x
#                  (scripts/test.sh; `make test TEST_ARGS="--test rig_smoke"`)
CARGO ?= cargo
TEST_ARGS ?=

.PHONY: all deps build images test lint fmt demo up-demo clean

all: build

# Debian packages the build needs (apt only for what is missing).
deps:
	scripts/install-deps.sh

build: deps
	$(CARGO) build --release -p spinshim -p containerd-shim-spin

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

up-demo: images build
	scripts/up-demo.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf images/target
