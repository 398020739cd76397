# spinshim: the commands a newcomer needs.
#   make demo   build, run the hello app with `spinshim up`, curl it
#   make test   everything CI runs: format, lint, unit and integration tests
CARGO ?= cargo

.PHONY: all build images test unit lint fmt demo clean

all: build

build:
	$(CARGO) build --release -p spinshim

images:
	scripts/build-images.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

# Tests run against release builds: guest components compile in seconds
# there, and the integration tests start the real `spinshim` binary.
test: images build lint
	$(CARGO) test --release --workspace

demo: images build
	scripts/demo.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf images/target
