# The interface for people and CI. `make demo` and `make test` are the two commands a newcomer needs.
SHELL      := /bin/bash
HANDLERS   := accountvending trailguard sweep reconcile
GOFLAGS_LAMBDA := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
LDFLAGS    := -s -w
# No inlining: the functions wait on AWS, not on the CPU, and inlined copies are a sixth of the
# reconcile bootstrap (its zip: 4.06 MB with inlining, 3.47 MB without; docs/PERFORMANCE.md, section 3).
GCFLAGS    := all=-l
DIST       := dist
STATICCHECK_VERSION := v0.8.2
GOBIN      := $(shell go env GOPATH)/bin

.PHONY: all build package test unit integration lint fmt-check staticcheck cfn-lint package-check demo bench fuzz deploy clean

all: build

## build: the four Lambda bootstraps for linux/arm64 (provided.al2023) in dist/<name>/bootstrap
build:
	@for h in $(HANDLERS); do \
	  $(GOFLAGS_LAMBDA) go build -tags lambda.norpc -trimpath -gcflags='$(GCFLAGS)' -ldflags='$(LDFLAGS)' -o $(DIST)/$$h/bootstrap ./handlers/$$h || exit 1; \
	done
	@ls -l $(DIST)/*/bootstrap

## package: build and zip each function as dist/<name>.zip
package: build
	@for h in $(HANDLERS); do (cd $(DIST)/$$h && rm -f ../$$h.zip && zip -q -X -9 ../$$h.zip bootstrap) || exit 1; done
	@ls -l $(DIST)/*.zip

## test: the unit step, then the integration step
test: unit integration

## unit: go vet (with and without the integration tag), then the fast tests with the race detector
unit:
	go vet ./...
	go vet -tags integration ./...
	go test -race -count=1 -timeout 10m ./...

## integration: everything that starts moto, the Lambda emulator or the demo (//go:build
## integration): the end-to-end suite, the local world's own tests, the operator command's,
## the deploy guide's, the demo and a tiny bench run; the packages' unit tests run again with them
## (the end-to-end suite runs INTEGRATION_PARALLEL tests at once, each on a local AWS of its own)
INTEGRATION_PKGS := ./integration/... ./cmd/... ./deploy/...
INTEGRATION_PARALLEL ?= 3
integration:
	go test -race -count=1 -tags integration -timeout 30m -parallel $(INTEGRATION_PARALLEL) $(INTEGRATION_PKGS)

## lint: gofmt, go vet (with and without the integration tag), staticcheck, cfn-lint on every template
lint: fmt-check staticcheck cfn-lint package-check
	go vet ./...
	go vet -tags integration ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

staticcheck:
	@test -x $(GOBIN)/staticcheck || GOBIN=$(GOBIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck ./...
	$(GOBIN)/staticcheck -tags integration ./...

cfn-lint:
	cfn-lint deploy/*.yaml $$(git ls-files 'integration/localworld/*.yaml')

## package-check: dry run of the packaging commands of docs/DEPLOY.md against moto
package-check:
	deploy/package-check.sh

## deploy: package and deploy the central stack (real AWS; see docs/DEPLOY.md). Not run in CI.
ARTIFACTS_BUCKET ?=
ORG_ID ?=
SECRET_ARN ?=
deploy: package
	@test -n "$(ARTIFACTS_BUCKET)" -a -n "$(ORG_ID)" -a -n "$(SECRET_ARN)" || { echo "usage: make deploy ARTIFACTS_BUCKET=... ORG_ID=o-... SECRET_ARN=arn:aws:secretsmanager:..."; exit 2; }
	aws cloudformation package --template-file deploy/template.yaml --s3-bucket $(ARTIFACTS_BUCKET) --s3-prefix cloudone-onboarder --output-template-file $(DIST)/packaged.yaml
	aws cloudformation deploy --template-file $(DIST)/packaged.yaml --stack-name cloudone-onboarder --capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND --parameter-overrides OrganizationId=$(ORG_ID) SecretArn=$(SECRET_ARN)

## demo: the whole loop on moto and the Cloud One stand-in, one command; TARGET=visionone
## shows the Vision One target's story (docs/DEMO.md)
TARGET ?= cloudone
demo:
	go run ./cmd/demo -target $(TARGET)

## bench: performance figures into docs/PERFORMANCE.md (about an hour on 2 cores: the wave of new accounts is 36 minutes by design; see cmd/bench -h)
bench:
	go run ./cmd/bench -out docs/PERFORMANCE.md

## fuzz: each event parser's fuzz target for FUZZTIME (default 60s)
FUZZTIME ?= 60s
fuzz:
	@for t in $$(go test -list '^Fuzz' ./internal/event/ | grep ^Fuzz); do \
	  go test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) ./internal/event/ || exit 1; done

clean:
	rm -rf $(DIST)
