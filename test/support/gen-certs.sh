#!/usr/bin/env bash
# gen-certs.sh OUTDIR -- test certificates for the HTTPS fronts of s3env.mjs.
#
# Writes into OUTDIR (skips everything if OUTDIR/ca.pem already exists):
#   ca.pem, ca.key                      test CA
#   server.pem, server.key              signed by ca, SAN IP:127.0.0.1, DNS:localhost
#   wronghost.pem, wronghost.key        signed by ca, SAN DNS:wrong.example.invalid only
#   unknown-ca.pem                      a second, unrelated CA (its key is not kept)
#   unknownca-server.pem/.key           signed by unknown-ca, SAN IP:127.0.0.1, DNS:localhost
# All keys are EC P-256, validity 3650 days. Only the openssl CLI is used.
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
mkdir -p "$out"

# Serialise concurrent runs on the same OUTDIR (flock is in util-linux; optional).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$out/.gen-certs.lock"
  flock 9
fi

if [[ -f "$out/ca.pem" ]]; then
  exit 0
fi

work=$(mktemp -d "$out/.gen.XXXXXX")
trap 'rm -rf "$work"' EXIT
days=3650

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

make_ca() { # name cn
  newkey "$work/$1.key"
  openssl req -x509 -new -key "$work/$1.key" -sha256 -days "$days" \
    -subj "/O=scb-backup tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$work/$1.pem"
}

make_leaf() { # name ca-name san cn
  newkey "$work/$1.key"
  openssl req -new -key "$work/$1.key" -subj "/O=scb-backup tests/CN=$4" -out "$work/$1.csr"
  cat >"$work/$1.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$3
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EOF
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.pem" -CAkey "$work/$2.key" \
    -CAcreateserial -sha256 -days "$days" -extfile "$work/$1.ext" \
    -out "$work/$1.pem" 2>/dev/null
}

make_ca ca "scb-backup test CA"
make_leaf server ca "IP:127.0.0.1,DNS:localhost" localhost
make_leaf wronghost ca "DNS:wrong.example.invalid" wrong.example.invalid
make_ca unknown-ca "scb-backup unrelated CA"
make_leaf unknownca-server unknown-ca "IP:127.0.0.1,DNS:localhost" localhost

# Sanity: the good chain verifies, the others are what they claim to be.
openssl verify -CAfile "$work/ca.pem" "$work/server.pem" >/dev/null
openssl verify -CAfile "$work/ca.pem" "$work/wronghost.pem" >/dev/null
openssl verify -CAfile "$work/unknown-ca.pem" "$work/unknownca-server.pem" >/dev/null

chmod 600 "$work"/*.key
for f in ca.key server.pem server.key wronghost.pem wronghost.key \
         unknown-ca.pem unknownca-server.pem unknownca-server.key; do
  mv -f "$work/$f" "$out/$f"
done
mv -f "$work/ca.pem" "$out/ca.pem" # last: its presence means "all done"
