#!/bin/sh
# Regenerates the test fixtures in this directory with the openssl CLI.
# Test-only keys: they protect nothing and are safe to commit.
#
#   certs/regen.sh           reissue the leaves, keeping each CA that exists
#   certs/regen.sh --new-ca  also make new CAs (then every leaf is reissued by them)
set -eu
cd "$(dirname "$0")"

NEW_CA=0
case "${1:-}" in
    --new-ca) NEW_CA=1 ;;
    "") ;;
    *) echo "usage: $0 [--new-ca]" >&2; exit 2 ;;
esac

DAYS=7300 # 20 years, so the fixtures never expire in CI
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# ca NAME CN: a self-signed CA certificate NAME.pem with key NAME.key, kept if it exists
# (so certificates that trust it stay valid) unless --new-ca was given.
ca() {
    if [ "$NEW_CA" = 0 ] && [ -s "$1.pem" ] && [ -s "$1.key" ]; then
        return
    fi
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -sha256 -days "$DAYS" -out "$1.pem" \
        -subj "/O=glassbox tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash"
}

# leaf NAME CA CN SANS: a server certificate NAME.pem with key NAME.key signed by CA.
leaf() {
    key "$1.key"
    openssl req -new -key "$1.key" -subj "/O=glassbox tests/CN=$3" -out "$TMP/$1.csr"
    cat > "$TMP/$1.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$4
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
    openssl x509 -req -in "$TMP/$1.csr" -CA "$2.pem" -CAkey "$2.key" -set_serial "0x$(openssl rand -hex 16)" \
        -sha256 -days "$DAYS" -extfile "$TMP/$1.ext" -out "$1.pem"
}

ca test-ca "glassbox test fixture CA"
leaf provider test-ca "fake provider" \
    "DNS:api.openai.com,DNS:api.anthropic.com,DNS:generativelanguage.googleapis.com,DNS:other.example,DNS:localhost"

ca untrusted-ca "glassbox untrusted fixture CA"
leaf untrusted-provider untrusted-ca "untrusted fake provider" "DNS:api.openai.com"

chmod 0644 ./*.pem ./*.key
openssl verify -CAfile test-ca.pem provider.pem
openssl verify -CAfile untrusted-ca.pem untrusted-provider.pem
