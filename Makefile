# Warren's build and test entry points. `make test` is what CI runs.
GO        ?= go
NPM       ?= npm
GOFLAGS   ?=
TESTFLAGS ?= -race -timeout 30m

.PHONY: all build demo test unit interop-deps vet fuzz bench clean

all: build

## build: the warren binary in ./bin/warren
build:
	$(GO) build $(GOFLAGS) -o bin/warren ./cmd/warren

## demo: Warren's main jobs on one machine without internet (scripts/demo.sh):
## a local bootstrap node, a folder shared and cloned, a tunnel to a local HTTP service
demo:
	bash scripts/demo.sh

## interop-deps: install the pinned JS reference peers (interop/node_modules)
interop-deps:
	cd interop && $(NPM) ci --no-audit --no-fund

## vet: go vet and a gofmt check
vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: everything CI checks — vet, then all Go tests with the race detector, interop included
test: interop-deps vet
	$(GO) test $(TESTFLAGS) ./...

## unit: Go tests only, without installing the JS peers (interop tests skip)
unit:
	$(GO) test $(TESTFLAGS) ./...

## fuzz: run every fuzz target briefly (FUZZTIME=30s by default)
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench: the side-by-side Go vs JS benchmarks (bench/run NAME for one)
bench: interop-deps
	bench/run all

clean:
	rm -rf bin
