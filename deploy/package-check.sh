#!/usr/bin/env bash
# Dry test of the packaging commands of docs/DEPLOY.md, against moto instead of AWS:
#   1. cfn-lint on every template (zero errors, zero warnings);
#   2. `aws cloudformation package` of deploy/template.yaml, uploading the function zips to a
#      bucket in moto's S3, then cfn-lint and `aws cloudformation validate-template` on the
#      packaged template; validate-template on deploy/member.yaml.
#
# Usage: deploy/package-check.sh
#   AWS_ENDPOINT_URL  a running moto_server (http://127.0.0.1:PORT); when unset, the script
#                     starts `moto_server` on a free port and stops it on exit.
#   dist/<name>.zip   the zips of `make package`; a missing zip is replaced by a dummy one in a
#                     scratch copy (nothing is written to the work tree).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
functions=(accountvending trailguard sweep reconcile)
scratch=$(mktemp -d)
moto_pid=""
cleanup() {
	if [[ -n "$moto_pid" ]]; then kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; fi
	rm -rf "$scratch"
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }

step "cfn-lint deploy/*.yaml"
cfn-lint "$repo"/deploy/*.yaml

# ---------------------------------------------------------------- moto and the CLI
if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	moto_server -H 127.0.0.1 -p "$port" >"$scratch/moto.log" 2>&1 &
	moto_pid=$!
	export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
	for _ in $(seq 50); do
		curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break
		sleep 0.2
	done
fi
step "moto at $AWS_ENDPOINT_URL"

# Path-style S3 against a loopback endpoint; dummy credentials; never real AWS.
cat >"$scratch/aws-config" <<'EOF'
[default]
region = us-east-1
s3 =
    addressing_style = path
EOF
export AWS_CONFIG_FILE="$scratch/aws-config"
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_PAGER=""
unset AWS_PROFILE

# ---------------------------------------------------------------- a scratch copy with the zips
mkdir -p "$scratch/tree/deploy" "$scratch/tree/dist"
cp "$repo/deploy/template.yaml" "$repo/deploy/member.yaml" "$scratch/tree/deploy/"
for f in "${functions[@]}"; do
	if [[ -f "$repo/dist/$f.zip" ]]; then
		cp "$repo/dist/$f.zip" "$scratch/tree/dist/"
	else
		echo "note: dist/$f.zip is missing; packaging a dummy zip (run make package for the real one)"
		mkdir -p "$scratch/dummy/$f"
		printf '#!/bin/sh\necho dummy %s\n' "$f" >"$scratch/dummy/$f/bootstrap"
		chmod +x "$scratch/dummy/$f/bootstrap"
		(cd "$scratch/dummy/$f" && zip -q -X "$scratch/tree/dist/$f.zip" bootstrap)
	fi
done

# ---------------------------------------------------------------- the documented commands
bucket=onboarder-artifacts-package-check
step "aws s3 mb s3://$bucket"
aws s3 mb "s3://$bucket" >/dev/null

step "aws cloudformation package"
aws cloudformation package \
	--template-file "$scratch/tree/deploy/template.yaml" \
	--s3-bucket "$bucket" \
	--s3-prefix cloudone-onboarder \
	--output-template-file "$scratch/packaged.yaml" >/dev/null

step "every CodeUri points at the bucket, and the objects are there"
uris=$(grep -E '^\s+CodeUri:' "$scratch/packaged.yaml" | awk '{print $2}')
count=$(grep -c "s3://$bucket/" <<<"$uris" || true)
if [[ "$count" -ne ${#functions[@]} ]]; then
	echo "want ${#functions[@]} CodeUri values on s3://$bucket, got:"; echo "$uris"; exit 1
fi
for uri in $uris; do
	aws s3 ls "$uri" >/dev/null || { echo "missing object $uri"; exit 1; }
done

step "cfn-lint on the packaged template"
cfn-lint "$scratch/packaged.yaml"

step "aws cloudformation validate-template (packaged central template, member and forwarder templates)"
aws cloudformation validate-template --template-body "file://$scratch/packaged.yaml" >/dev/null
aws cloudformation validate-template --template-body "file://$scratch/tree/deploy/member.yaml" >/dev/null
aws cloudformation validate-template --template-body "file://$repo/deploy/forwarder.yaml" >/dev/null

step "package-check passed"
