#!/usr/bin/env bash
# Starts a throwaway Dovecot IMAP server on 127.0.0.1:PORT with its config, state and mail in
# DIR, and one user (hotline / hotline-secret). Prints the HOTLINE_TEST_IMAP value to export.
# Usage: tests/email_dovecot.sh DIR PORT
set -euo pipefail
DIR=$(realpath -m "$1"); PORT=$2
mkdir -p "$DIR"/{run,state,mail}
chown -R mail:mail "$DIR/mail"
chmod 755 "$DIR"
echo 'hotline:{PLAIN}hotline-secret' > "$DIR/passwd"
cat > "$DIR/dovecot.conf" <<CONF
protocols = imap
first_valid_uid = 1
first_valid_gid = 1
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
base_dir = $DIR/run
state_dir = $DIR/state
log_path = $DIR/dovecot.log
mail_location = maildir:$DIR/mail/%n/Maildir
passdb {
  driver = passwd-file
  args = $DIR/passwd
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$DIR/mail/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
}
CONF
dovecot -c "$DIR/dovecot.conf"
for _ in $(seq 1 50); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "127.0.0.1:$PORT:hotline:hotline-secret"
    exit 0
  fi
  sleep 0.1
done
echo "dovecot did not start; see $DIR/dovecot.log" >&2
exit 1
