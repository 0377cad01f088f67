#!/bin/sh
# fleetmon gate: the forced command of the monitor's key on a fleet host.
#
# `fleetmon keys deploy` installs this file as /usr/local/lib/fleetmon/gate (root-owned, 0755) next to the probe
# (probe.sh), and writes the key as
#   restrict,command="/usr/local/lib/fleetmon/gate" ssh-ed25519 AAAA… fleetmon@SERVER
# so whatever the client asks for arrives here in SSH_ORIGINAL_COMMAND, and only the verbs below run.
#
# Wire format, version 1. SSH_ORIGINAL_COMMAND is at most 2048 bytes of [A-Za-z0-9_=-] words separated by spaces;
# anything else is refused before it is split, and the words are split with globbing off, so no shell ever
# interprets client text (nothing is eval'd, no client word reaches a command line except as one quoted argument).
#   fleetmon-ping v1                      → prints "pong v1"
#   fleetmon-probe v1                     → runs the installed probe (/bin/sh <this dir>/probe.sh) with this
#                                           connection's stdin and stdout; it answers `poll <nonce>` lines
#                                           until stdin closes
#   fleetmon-kill v1 <NAME64> <CREATED>   → kills the tmux session (of this account) named exactly NAME whose
#                                           creation time, #{session_created} in epoch seconds, is CREATED
#     NAME64  = base64url (RFC 4648 §5: '-' and '_' instead of '+' and '/') of the session name's UTF-8 bytes,
#               '=' padding optional; 1 to 1700 characters (a 300-character name of 4-byte characters fits).
#               A decoded name must be non-empty and hold no NUL, ':' or '.' (tmux never puts those in a name;
#               it also stores control characters escaped, e.g. a newline as the two characters \n, and a
#               client sends back the name as tmux lists it).
#     CREATED = 1 to 12 decimal digits.
#   fleetmon-kill-user v1 <UID> <NAME64> <CREATED>
#                                         → the same for a session of another user's tmux server (owner UID, 1 to 10
#                                           digits): runs `sudo -n <this dir>/tmux-all-users kill UID NAME64 CREATED`,
#                                           installed by `keys deploy --all-users` (exit 2 without it, 4 ambiguous)
#   The probe gets FLEETMON_HELPER=<this dir>/tmux-all-users when that helper is installed, and asks it (through
#   sudo -n) for every user's sessions when the collector requests them.
#   The session is looked up by exact comparison in `tmux list-sessions` (never by prefix or pattern), its creation
#   time is compared with the request, and it is then killed by its unique id ($N), so a session renamed or
#   recreated in between is not touched.
# Exit status: 0 done; 2 bad request (unknown verb or version, wrong arguments, bad encoding); 3 no such session,
# or it has another creation time; 1 the gate itself failed (tmux could not kill a session it had just found).
#
# POSIX sh (dash-safe): fixed PATH and locale, absolute paths, no `shift`, argument counts checked before use.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset IFS ENV BASH_ENV CDPATH TMUX
LC_ALL=C.UTF-8
export LC_ALL
umask 077
set -f

bad() {
  printf 'fleetmon-gate: refused: %s\n' "$1" >&2
  exit 2
}

case $0 in
  /*) dir=${0%/*} ;;
  *) printf 'fleetmon-gate: must be run by its absolute path\n' >&2; exit 1 ;;
esac

cmd=${SSH_ORIGINAL_COMMAND-}
[ -n "$cmd" ] || bad 'no command: this key only runs fleetmon verbs'
[ "${#cmd}" -le 2048 ] || bad 'command too long'
case $cmd in
  *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_=' '-]*) bad 'unexpected character in command' ;;
esac

# shellcheck disable=SC2086 # splitting on spaces is the point; globbing is off (set -f)
set -- $cmd
[ "$#" -ge 2 ] || bad 'expected: VERB VERSION [ARGUMENTS]'

kill_session() {
  name64=$1
  created=$2
  case $created in
    '' | *[!0123456789]*) bad 'CREATED must be decimal digits' ;;
  esac
  [ "${#created}" -le 12 ] || bad 'CREATED too long'
  [ "${#name64}" -ge 1 ] && [ "${#name64}" -le 1700 ] || bad 'NAME64 must be 1 to 1700 characters'
  case $name64 in
    *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_=-]*) bad 'NAME64 is not base64url' ;;
    *=*[!=]*) bad 'NAME64 has padding before its end' ;;
  esac
  name64=${name64%%=*}
  case $((${#name64} % 4)) in
    0) pad='' ;;
    2) pad='==' ;;
    3) pad='=' ;;
    *) bad 'NAME64 has an impossible length' ;;
  esac
  std=$(printf '%s' "$name64" | /usr/bin/tr '_-' '/+')
  # The trailing x keeps newlines the name may end with; a decoding error fails the whole substitution.
  name=$(printf '%s%s' "$std" "$pad" | /usr/bin/base64 -d && printf x) || bad 'NAME64 does not decode'
  name=${name%x}
  # The shell drops NUL bytes silently: compare byte counts so "a<NUL>b" cannot become the name "ab".
  decoded_bytes=$(printf '%s%s' "$std" "$pad" | /usr/bin/base64 -d | /usr/bin/wc -c)
  kept_bytes=$(printf '%s' "$name" | /usr/bin/wc -c)
  [ "$decoded_bytes" -eq "$kept_bytes" ] || bad 'NAME contains a NUL byte'
  [ -n "$name" ] || bad 'NAME is empty'
  case $name in
    *:* | *.*) bad 'NAME cannot contain ":" or "." (tmux replaces them)' ;;
  esac

  # The session is found in tmux's own list rather than through `-t =NAME`: target parsing gives some names
  # another meaning (one starting with "$" is read as a session id and never matches by name). tmux stores
  # control characters in names escaped, so each session is exactly one line: "ID CREATED NAME".
  list=$(/usr/bin/tmux list-sessions -F '#{session_id} #{session_created} #{session_name}' 2>/dev/null) || exit 3
  id=''
  while IFS= read -r line; do
    rest=${line#* }
    if [ "${rest#* }" = "$name" ]; then
      id=${line%% *}
      now_created=${rest%% *}
      break
    fi
  done <<FLEETMON_SESSIONS
$list
FLEETMON_SESSIONS
  case $id in
    '$'[0123456789]*) ;;
    *) exit 3 ;;
  esac
  [ "$now_created" = "$created" ] || exit 3
  if /usr/bin/tmux kill-session -t "$id" 2>/dev/null; then
    [ -x /usr/bin/logger ] && /usr/bin/logger -t fleetmon-gate -- "killed tmux session $id ($name64, created $created)"
    exit 0
  fi
  exit 1
}

case "$1 $2" in
  'fleetmon-ping v1')
    [ "$#" -eq 2 ] || bad 'fleetmon-ping v1 takes no arguments'
    printf 'pong v1\n'
    exit 0
    ;;
  'fleetmon-probe v1')
    [ "$#" -eq 2 ] || bad 'fleetmon-probe v1 takes no arguments'
    if [ -f "$dir/tmux-all-users" ]; then
      FLEETMON_HELPER=$dir/tmux-all-users
      export FLEETMON_HELPER
    fi
    exec /bin/sh "$dir/probe.sh"
    ;;
  'fleetmon-kill-user v1')
    [ "$#" -eq 5 ] || bad 'expected: fleetmon-kill-user v1 UID NAME64 CREATED'
    case $3 in '' | *[!0123456789]*) bad 'UID must be decimal digits' ;; esac
    [ "${#3}" -le 10 ] || bad 'UID too long'
    [ -f "$dir/tmux-all-users" ] || bad 'the all-users helper is not installed (fleetmon keys deploy --all-users)'
    # The helper checks NAME64 and CREATED itself; the characters of every word were checked above.
    exec /usr/bin/sudo -n "$dir/tmux-all-users" kill "$3" "$4" "$5"
    ;;
  'fleetmon-kill v1')
    [ "$#" -eq 4 ] || bad 'expected: fleetmon-kill v1 NAME64 CREATED'
    kill_session "$3" "$4"
    ;;
  *)
    bad 'unknown verb or version'
    ;;
esac
