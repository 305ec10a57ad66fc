# kernel-gossip — every target installs what it needs first (npm ci brings Node 24).
SHELL := /bin/bash
NODE := node_modules/.bin/node
STAMP := node_modules/.kernel-gossip-installed

.PHONY: install build test demo lint proto bench bench-quick clean help

help:
	@echo "make install | build | test | demo | lint | proto | bench"

$(STAMP): package.json package-lock.json
	npm ci
	@touch $@

install: $(STAMP)

proto: $(STAMP)
	$(NODE) scripts/gen-proto.ts

build: $(STAMP)
	npm run build

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
	rm -rf proto/gen bench/results/latest.json
