#!/bin/sh
# tls_certs.sh DIR — the certificates of the TLS tests, made fresh by each
# run with the openssl CLI (nothing secret is kept in the repository):
#   ca.pem                 the test CA (what HOOKLOOP_CA_FILE names)
#   server.pem/.key        partner.localhost and 127.0.0.1, issued by the CA
#   wronghost.pem/.key     only other.example, issued by the CA
#   expired.pem/.key       partner.localhost, issued by the CA, expired in 2020
#   selfsigned.pem/.key    partner.localhost, signed by itself (an unknown CA)
#   client-ca.pem          the CA the partner trusts for client certificates
#   client.pem/.key        a client certificate (CN hookloop-client) from it
set -eu
d=$1
mkdir -p "$d"
cd "$d"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ca() { # name cn
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name ca san [startdate enddate]
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$1.ext"
  if [ $# -ge 5 ]; then
    # openssl ca takes explicit dates, which x509 -req cannot.
    mkdir -p "db-$1"; : > "db-$1/index"; echo 01 > "db-$1/serial"
    cat > "$1.cnf" <<CNF
[ca]
default_ca = c
[c]
database = db-$1/index
serial = db-$1/serial
new_certs_dir = db-$1
default_md = sha256
policy = p
copy_extensions = none
[p]
commonName = supplied
[x]
subjectAltName = $3
extendedKeyUsage = serverAuth
CNF
    openssl ca -batch -config "$1.cnf" -cert "$2.pem" -keyfile "$2.key" -in "$1.csr" -out "$1.pem" \
      -startdate "$4" -enddate "$5" -extensions x -notext 2>/dev/null
  else
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
      -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  fi
}
ca ca "hookloop test CA"
ca client-ca "hookloop test client CA"
leaf server ca "DNS:partner.localhost,IP:127.0.0.1"
leaf wronghost ca "DNS:other.example"
leaf expired ca "DNS:partner.localhost,IP:127.0.0.1" 20200101000000Z 20200201000000Z
leaf client client-ca "DNS:hookloop-client"
key selfsigned.key
openssl req -x509 -new -key selfsigned.key -subj "/CN=partner.localhost" -days 2 -out selfsigned.pem \
  -addext subjectAltName=DNS:partner.localhost,IP:127.0.0.1
