#!/bin/sh
# Make a settings file from an example, with a new random value for every CHANGE-ME:
#   sh deploy/make-env.sh deploy/.env.example deploy/.env                    (compose)
#   sh deploy/make-env.sh deploy/systemd/haven.env.example /etc/haven/haven.env   (systemd)
# The file is created owner-only (0600) and never overwritten. Needs only openssl.
# Then read the file and fill in the rest (host name, Telegram, hours...).
set -eu
if [ $# -ne 2 ]; then
    echo "usage: $0 EXAMPLE OUTPUT" >&2
    exit 2
fi
example=$1
out=$2
if [ -e "$out" ]; then
    echo "$out already exists: not overwritten." >&2
    exit 1
fi
umask 077
draft="$out.draft.$$"
trap 'rm -f "$draft"' EXIT
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
        HAVEN_CONTACT_KEYS=CHANGE-ME*)  # a Fernet key: 32 random bytes, URL-safe base64
            echo "HAVEN_CONTACT_KEYS=$(openssl rand -base64 32 | tr '+/' '-_')" ;;
        [A-Z]*=CHANGE-ME*)  # letters and digits only: safe in URLs and headers
            echo "${line%%=*}=$(openssl rand -hex 32)" ;;
        *)
            printf '%s\n' "$line" ;;
    esac
done < "$example" > "$draft"
mv "$draft" "$out"
trap - EXIT
echo "Wrote $out (owner-only) with new secrets."
echo "Keep a copy of its HAVEN_CONTACT_KEYS line apart from the database backups."
