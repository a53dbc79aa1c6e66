# sockshim. `make run` starts the relay with its demo; `make test` runs every
# test, installing what it needs (Debian chromium, npm packages) first.
SHELL := /bin/bash
GO ?= go
GOROOT := $(shell $(GO) env GOROOT)
NODE_EXEC := node --experimental-websocket --stack-size=8192 $(GOROOT)/lib/wasm/wasm_exec_node.js
BROWSER_EXEC := $(CURDIR)/bin/wasmbrowser
export CGO_ENABLED := 0

# Unit tests that also run compiled to wasm (in Node and in Chromium). The
# shim's TestJS* tests need servers, so internal/e2e runs them (TestTLSWasm*)
# with those servers started; here they are left to it.
WASM_UNIT_PKGS := ./internal/wisp/ ./internal/policy/ ./internal/wispclient/ ./internal/rfc6455/ ./shim/
# A browser has no file system for fuzz seed corpora (testdata/) and Example
# output, so there the Fuzz* seeds run natively and under Node only.
BROWSER_UNIT_PKGS := ./internal/wisp/ ./internal/wispclient/ ./internal/rfc6455/ ./shim/
BROWSER_UNIT_SKIP := -skip '^(TestJS|Fuzz)'
WASM_UNIT_SKIP := -skip '^TestJS'

.PHONY: run test deps wasm relay edge edge-dev test-edge bench fuzz vet test-native test-wasm-node test-wasm-browser test-jsapi test-integration bench-jsapi clean

run: wasm
	$(GO) run ./cmd/relay -dev

relay:
	$(GO) build -o bin/relay ./cmd/relay

# The demo page's wasm and Go's wasm_exec.js, embedded into the relay binary.
wasm:
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags=-s -o web/main.wasm ./wasm
	cp $(GOROOT)/lib/wasm/wasm_exec.js web/wasm_exec.js

# The relay for Cloudflare Workers (cmd/edge, github.com/syumai/workers):
# bin/edge/ holds syumai/workers' runtime glue and app.wasm; wrangler.toml
# points at it. The free plan takes 3 MB gzip, the paid one 10 MB.
EDGE_DIR := bin/edge
EDGE_PORT ?= 8787
edge:
	$(GO) run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o $(EDGE_DIR)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags=-s -o $(EDGE_DIR)/app.wasm ./cmd/edge
	@echo "edge: $(EDGE_DIR)/app.wasm $$(gzip -9 -c $(EDGE_DIR)/app.wasm | wc -c) bytes gzip (free plan: 3 MB)"

# The edge relay in workerd (wrangler 4, offline: no metrics, no cf fetch, and
# no banner, whose npm update check is wrangler's only other network call)
# on 127.0.0.1:$(EDGE_PORT), with wrangler.toml's development policy
# (loopback allowed).
edge-dev: edge
	./scripts/install-wrangler.sh
	WRANGLER_SEND_METRICS=false WRANGLER_HIDE_BANNER=true CLOUDFLARE_CF_FETCH_ENABLED=false \
		test/edge/node_modules/.bin/wrangler dev --env dev --ip 127.0.0.1 --port $(EDGE_PORT)

# The client tests against the edge relay in real workerd (test/edge builds
# the Worker itself, and uses test/interop's wisp-js, Chromium, and for the
# JS API web/main.wasm and test/jsapi's playwright-core).
test-edge: wasm bin/wasmbrowser
	./scripts/install-wrangler.sh
	./scripts/install-npm.sh
	./scripts/install-chromium.sh
	./test/jsapi/install.sh
	SOCKSHIM_EDGE=1 SOCKSHIM_WASMBROWSER=$(BROWSER_EXEC) $(GO) test -count=1 -timeout 300s ./test/edge/

deps:
	./scripts/install-chromium.sh
	./scripts/install-firefox.sh
	./scripts/install-npm.sh
	./scripts/install-nginx.sh

bin/wasmbrowser: $(wildcard tools/wasmbrowser/*.go)
	$(GO) build -o bin/wasmbrowser ./tools/wasmbrowser

vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./...

test: deps wasm bin/wasmbrowser vet test-native test-wasm-node test-wasm-browser test-jsapi test-integration test-edge

# Packages whose tests build or run ./wasm, ./cmd/relay, web/ or other
# commands in subprocesses. Go's test cache cannot see a subprocess's inputs
# (web/app.js, the wasm build's _js.go files...), so these always run
# (-count=1) instead of replaying an old pass; every other package may be
# cached. Add a package here when its tests start such a subprocess.
UNCACHED_TEST_PKGS := ./internal/e2e/ ./tools/wasmbrowser/ ./wasm/
MODULE := $(shell $(GO) list -m)
# The others, as a shell expression (evaluated where used).
CACHED_TEST_PKGS = $$($(GO) list ./... | grep -v -x -F $(foreach p,$(UNCACHED_TEST_PKGS),-e $(MODULE)/$(patsubst ./%/,%,$(p))))
NATIVE_TEST_ENV := CGO_ENABLED=1 SOCKSHIM_REQUIRE_BROWSER=1 SOCKSHIM_REQUIRE_NETNS=1 SOCKSHIM_REQUIRE_NODE=1 SOCKSHIM_REQUIRE_NGINX=1

# Native tests, with the race detector (which needs cgo).
# The two runs go side by side, so the split costs no wall time.
test-native:
	@$(NATIVE_TEST_ENV) $(GO) test -race -timeout 600s $(CACHED_TEST_PKGS) & cached=$$!; \
	$(NATIVE_TEST_ENV) $(GO) test -race -count=1 -timeout 600s $(UNCACHED_TEST_PKGS) & uncached=$$!; \
	a=0; b=0; wait $$cached || a=$$?; wait $$uncached || b=$$?; \
	if [ $$a -ne 0 ] || [ $$b -ne 0 ]; then echo "test-native: FAIL (cached run $$a, uncached run $$b)" >&2; exit 1; fi

test-wasm-node:
	GOOS=js GOARCH=wasm $(GO) test -timeout 120s -exec="$(NODE_EXEC)" $(WASM_UNIT_SKIP) $(WASM_UNIT_PKGS)

# Every browser package runs in headless Chromium and in headless Firefox.
BROWSERS := chromium firefox
test-wasm-browser: bin/wasmbrowser
	@set -e; for b in $(BROWSERS); do \
		echo "== wasm unit tests in $$b"; \
		GOOS=js GOARCH=wasm $(GO) test -timeout 180s -exec="$(BROWSER_EXEC) -browser=$$b" $(BROWSER_UNIT_SKIP) $(BROWSER_UNIT_PKGS); \
	done

# The JS API (web/sockshim.js) in each of $(BROWSERS): Debian's Chromium
# through playwright-core, Debian's firefox-esr over WebDriver BiDi
# (test/jsapi/firefox.mjs), the same tests against a real relay process and
# real loopback servers; tsc on web/sockshim.d.ts and a typed example.
# Installs its npm packages itself. Node 20 needs --experimental-websocket
# for the BiDi connection.
test-jsapi: wasm
	./scripts/install-chromium.sh
	./scripts/install-firefox.sh
	./test/jsapi/install.sh
	CGO_ENABLED=0 $(GO) build -o bin/relay ./cmd/relay
	$(GO) build -o bin/jsapi-servers ./test/jsapi/servers
	cd test/jsapi && node_modules/.bin/tsc -p types/tsconfig.json
	@set -e; for b in $(BROWSERS); do \
		echo "== JS API tests in $$b"; \
		(cd test/jsapi && SOCKSHIM_BROWSER=$$b timeout 600 node --experimental-websocket --no-warnings=ExperimentalWarning \
			--test --test-reporter=spec --test-concurrency=2 --test-timeout=240000 *.test.mjs); \
	done

# The JS API beside the wisp-js client in one Chromium (bare DevTools pipe),
# bulk echo and 64-byte round trips; a quick check, not the bench's table.
bench-jsapi: wasm
	./scripts/install-npm.sh
	./test/jsapi/install.sh
	./scripts/install-chromium.sh
	CGO_ENABLED=0 $(GO) build -o bin/relay ./cmd/relay
	node test/jsapi/bench.mjs

# Real client libraries (pgx, x/crypto/ssh, go-redis, net/http) over
# shim.Dialer against real PostgreSQL, sshd, Redis and nginx from Debian,
# natively and as wasm in Chromium, through a relay. integration/ is a
# module of its own, so its dependencies stay out of the main go.mod.
# -count=1: the tests build the wasm scenarios and the browser runner in
# subprocesses, which the test cache cannot see.
# Its go.mod must list at least the versions the main go.mod requires (Go
# refuses to build otherwise), so a dependency bump in the main module is
# followed here by go mod tidy, with a notice to commit the result.
test-integration:
	./scripts/install-servers.sh
	./scripts/install-chromium.sh
	cd integration && if ! $(GO) mod tidy -diff >/dev/null 2>&1; then \
		echo "integration/go.mod is behind the main module: running go mod tidy there (commit the result)" >&2; \
		$(GO) mod tidy; fi
	cd integration && $(GO) vet ./... && GOOS=js GOARCH=wasm $(GO) vet ./...
	cd integration && CGO_ENABLED=1 SOCKSHIM_REQUIRE_SERVERS=1 SOCKSHIM_REQUIRE_BROWSER=1 \
		$(GO) test -race -count=1 -timeout 300s ./...

# Speed and memory, never part of `make test`: our relay against direct
# loopback TCP and the wisp-js server, plus Chromium rows; one table.
# BENCHFLAGS passes flags to the bench, e.g. BENCHFLAGS=-duration=30s.
# BENCHFLAGS=-browser-only runs only the Chromium table (Go wasm against the
# wisp-js client); -browser-rounds=3 takes medians of three rounds.
bench:
	./scripts/install-npm.sh
	./scripts/install-wrangler.sh
	./scripts/install-chromium.sh
	./scripts/install-firefox.sh
	CGO_ENABLED=0 $(GO) build -o bin/relay ./cmd/relay
	$(GO) run ./tools/bench -relay bin/relay $(BENCHFLAGS)

# Each fuzz target runs FUZZTIME; new corpus entries are kept in testdata.
FUZZTIME ?= 20s
FUZZ_TARGETS := internal/wisp:FuzzParse internal/wisp:FuzzConnectOptions internal/wisp:FuzzListenOptions internal/wisp:FuzzStats internal/policy:FuzzNormalize internal/policy:FuzzClassify \
	internal/policy:FuzzParsePortRange internal/rfc6455:FuzzReadFrameHeader internal/rfc6455:FuzzConnRead
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "== $$pkg $$fn"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$pkg; \
		mkdir -p $$pkg/testdata/fuzz/$$fn; \
		cp -n $$($(GO) env GOCACHE)/fuzz/github.com/sockshim/sockshim/$$pkg/$$fn/* $$pkg/testdata/fuzz/$$fn/ 2>/dev/null || true; \
	done

clean:
	rm -rf bin web/main.wasm web/wasm_exec.js
