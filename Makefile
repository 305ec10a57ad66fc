# kernel-gossip — every target installs what it needs first (npm ci brings Node 24).
SHELL := /bin/bash
NODE := node_modules/.bin/node
STAMP := node_modules/.kernel-gossip-installed

.PHONY: install build build-dist test demo lint proto bench bench-quick clean help

help:
	@echo "make install | build | build-dist | test | demo | lint | proto | bench"

$(STAMP): package.json package-lock.json
	npm ci
	@touch $@

install: $(STAMP)

proto: $(STAMP)
	$(NODE) scripts/gen-proto.ts

# Type-checks and builds dist/ (what the image runs).
build: $(STAMP)
	npm run build

# Only the shipped artifact: dist/{kernel-gossip,agent,aggregator}.mjs (docs/adr/0010).
build-dist: $(STAMP)
	$(NODE) scripts/gen-proto.ts --if-changed
	$(NODE) scripts/build-dist.ts

lint: $(STAMP)
	$(NODE) scripts/gen-proto.ts --check
	npx biome check .
	npx tsc -p tsconfig.json

test: $(STAMP)
	npm test

demo: $(STAMP)
	$(NODE) cli/main.ts demo

bench: $(STAMP)
	$(NODE) bench/run.ts

bench-quick: $(STAMP)
	$(NODE) bench/run.ts --quick

clean:
	rm -rf proto/gen dist bench/results/latest.json
