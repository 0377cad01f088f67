#!/bin/sh
# fleetmon tmux-all-users: the root helper that lets the monitor see (and kill, one exact session at a time) every
# user's tmux sessions on a fleet host, not only the service account's.
#
# `fleetmon keys deploy --all-users` installs it as <lib dir>/tmux-all-users (root-owned, 0755) beside the gate, and
# /etc/sudoers.d/fleetmon lets the service account run exactly this file as root, with no password. The gate and
# the probe call it through `sudo -n`. It takes no free text: only the verbs below, each argument checked.
#   ping                         → prints "tmux-all-users v1"
#   list                         → for every tmux server found, a line "T|UID|USER|RC|SOCKET" (RC: tmux's exit
#                                  status, 124 when it did not answer within the deadline) followed by what the
#                                  server answered: "S|…" session and "P|…" pane lines in the probe's formats
#   kill UID NAME64 CREATED      → kills the session named exactly NAME (NAME64: base64url as in the gate) created
#                                  at CREATED (epoch seconds) on a server owned by UID; found by exact comparison in
#                                  list-sessions, killed by its id ($N)
# Exit status: 0 done; 2 bad request; 3 no such session (or another creation time); 4 several servers of that user
# hold such a session (refused: ambiguous); 1 the helper failed.
#
# Servers are found at /tmp/tmux-UID/*, under the TMUX_TMPDIR of every running tmux server (its environ), and at
# the -S path on its command line. Before a socket is used: it must be a socket and not a symlink, in a directory
# that is not a symlink; in a tmux-N directory, the directory, its name's N and the socket must all belong to the
# same uid and the directory must be closed to group and others (what tmux itself demands); elsewhere (-S), the
# directory belongs to the socket's owner, or to root with the sticky bit (like /tmp). Then the tmux client runs as
# the socket's owner (setpriv, no new privileges, no supplementary groups), never as root on someone else's server:
# even a socket swapped after the checks can only reach what its owner could reach anyway.
# Every tmux call has a deadline (timeout) and an output cap; the servers are asked in parallel, so one that hangs
# costs at most one deadline and delays no other.
#
# POSIX sh (dash-safe): fixed PATH and locale, absolute paths, argument counts checked before use.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
unset IFS ENV BASH_ENV CDPATH TMUX TMUX_TMPDIR TMPDIR
LC_ALL=C.UTF-8
export LC_ALL
umask 077
set -f
# Words split only at newlines (socket paths may hold spaces); globbing stays off except where it is the point.
NL='
'
IFS=$NL

DEADLINE=2        # seconds per tmux call
CAP_BLOCKS=512    # 512-byte blocks (256 KiB) kept of one server's answer (ulimit -f)
MAX_SERVERS=64
TMUX_BIN=/usr/bin/tmux
S_FORMAT='S|#{session_id}|#{session_created}|#{session_attached}|#{session_windows}|#{session_activity}|#{session_last_attached}|#{session_name}'
P_FORMAT='P|#{session_id}|#{window_index}|#{pane_index}|#{pane_pid}|#{pane_current_command}'

bad() {
  printf 'tmux-all-users: refused: %s\n' "$1" >&2
  exit 2
}

[ "$(/usr/bin/id -u)" = 0 ] || { printf 'tmux-all-users: must run as root (through sudo)\n' >&2; exit 1; }
[ -x "$TMUX_BIN" ] || { printf 'tmux-all-users: %s not found\n' "$TMUX_BIN" >&2; exit 1; }

# Candidate socket paths, one per line (absolute, no control characters, no '|'), deduplicated.
candidates() {
  {
    set +f
    for p in /tmp/tmux-[0-9]*/*; do printf '%s\n' "$p"; done
    for f in $(/bin/grep -lx 'tmux: server' /proc/[0-9]*/comm 2>/dev/null); do
      d=${f%/comm}
      tmpdir=$(/usr/bin/tr '\000' '\n' <"$d/environ" 2>/dev/null | /bin/sed -n 's/^TMUX_TMPDIR=//p' | /usr/bin/head -n 1)
      case $tmpdir in
        /*) for p in "${tmpdir%/}"/tmux-[0-9]*/*; do printf '%s\n' "$p"; done ;;
      esac
      # -S PATH (or -SPATH) on the command line the server was started with.
      /usr/bin/tr '\000' '\n' <"$d/cmdline" 2>/dev/null | /usr/bin/awk 'n { print; n = 0; next } $0 == "-S" { n = 1; next } /^-S./ { print substr($0, 3) }'
    done
    set -f
  } | /usr/bin/awk '/^\// && !/[|[:cntrl:]]/ && !seen[$0]++' | /usr/bin/head -n "$MAX_SERVERS"
}

# check_socket PATH: prints "UID GID" of a socket fit to use, else nothing (and fails).
check_socket() {
  p=$1
  d=${p%/*}
  [ -n "$d" ] || d=/
  [ ! -h "$p" ] && [ -S "$p" ] || return 1
  [ ! -h "$d" ] && [ -d "$d" ] || return 1
  s=$(/usr/bin/stat -c '%u %g' -- "$p" 2>/dev/null) || return 1
  t=$(/usr/bin/stat -c '%u %a' -- "$d" 2>/dev/null) || return 1
  su=${s% *}
  du=${t% *}
  dm=${t#* }
  base=${d##*/}
  case $base in
    tmux-[0-9]*)
      [ "${base#tmux-}" = "$du" ] && [ "$su" = "$du" ] || return 1
      case $dm in *00) ;; *) return 1 ;; esac
      ;;
    *)
      if [ "$du" != "$su" ]; then
        [ "$du" = 0 ] || return 1
        case $dm in 1???) ;; *) return 1 ;; esac
      fi
      ;;
  esac
  printf '%s\n' "$s"
}

# as_owner UID GID SOCKET TMUX-ARGS...: the tmux client as the socket's owner, with a deadline.
as_owner() {
  u=$1
  g=$2
  sock=$3
  shift 3
  /usr/bin/timeout -k 1 "$DEADLINE" /usr/bin/setpriv --reuid="$u" --regid="$g" --clear-groups --no-new-privs -- \
    /usr/bin/env -i PATH=/usr/bin:/bin LC_ALL=C.UTF-8 HOME=/ "$TMUX_BIN" -u -S "$sock" "$@"
}

user_name() {
  n=$(/usr/bin/getent passwd "$1" | /usr/bin/cut -d: -f1)
  case $n in '' | *[!A-Za-z0-9._-]*) n=$1 ;; esac
  printf '%s' "$n"
}

work=''
cleanup() { [ -n "$work" ] && /bin/rm -rf -- "$work"; }
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

list_all() {
  work=$(/bin/mktemp -d /tmp/fleetmon-tmux-all-users.XXXXXX) || exit 1
  : >"$work/null"
  i=0
  for sock in $(candidates); do
    ids=$(check_socket "$sock") || continue
    i=$((i + 1))
    printf '%s\n%s\n' "$ids" "$sock" >"$work/$i.who"
    # Into a file, not a pipe: the tmux client hands its stdout to the server as a file descriptor, and a server
    # that never reads its socket would keep a pipe open long after the client was killed. ulimit -f caps the file.
    (
      ulimit -f "$CAP_BLOCKS"
      as_owner "${ids% *}" "${ids#* }" "$sock" list-sessions -F "$S_FORMAT" \; list-panes -a -F "$P_FORMAT" <"$work/null" >"$work/$i.out" 2>/dev/null
      echo $? >"$work/$i.rc"
    ) &
  done
  wait
  j=0
  while [ "$j" -lt "$i" ]; do
    j=$((j + 1))
    { read -r ids; read -r sock; } <"$work/$j.who"
    rc=1
    [ -r "$work/$j.rc" ] && read -r rc <"$work/$j.rc"
    printf 'T|%s|%s|%s|%s\n' "${ids% *}" "$(user_name "${ids% *}")" "$rc" "$sock"
    /bin/sed -n '/^[SP]|/p' "$work/$j.out"
  done
  exit 0
}

decode_name() { # NAME64 → $name, refusing what the gate refuses
  name64=$1
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
  name=$(printf '%s%s' "$std" "$pad" | /usr/bin/base64 -d && printf x) || bad 'NAME64 does not decode'
  name=${name%x}
  decoded_bytes=$(printf '%s%s' "$std" "$pad" | /usr/bin/base64 -d | /usr/bin/wc -c)
  kept_bytes=$(printf '%s' "$name" | /usr/bin/wc -c)
  [ "$decoded_bytes" -eq "$kept_bytes" ] || bad 'NAME contains a NUL byte'
  [ -n "$name" ] || bad 'NAME is empty'
  case $name in
    *:* | *.*) bad 'NAME cannot contain ":" or "." (tmux replaces them)' ;;
  esac
}

kill_one() {
  want_uid=$1
  created=$3
  case $want_uid in '' | *[!0123456789]*) bad 'UID must be decimal digits' ;; esac
  [ "${#want_uid}" -le 10 ] || bad 'UID too long'
  case $created in '' | *[!0123456789]*) bad 'CREATED must be decimal digits' ;; esac
  [ "${#created}" -le 12 ] || bad 'CREATED too long'
  decode_name "$2"
  found=0
  work=$(/bin/mktemp -d /tmp/fleetmon-tmux-all-users.XXXXXX) || exit 1
  : >"$work/null"
  for sock in $(candidates); do
    ids=$(check_socket "$sock") || continue
    [ "${ids% *}" = "$want_uid" ] || continue
    (
      ulimit -f "$CAP_BLOCKS"
      as_owner "${ids% *}" "${ids#* }" "$sock" list-sessions -F '#{session_id} #{session_created} #{session_name}' <"$work/null" >"$work/kill.out" 2>/dev/null
    ) || continue
    list=$(/bin/cat "$work/kill.out")
    while IFS= read -r line; do
      rest=${line#* }
      if [ "${rest#* }" = "$name" ] && [ "${rest%% *}" = "$created" ]; then
        case ${line%% *} in '$'[0123456789]*) ;; *) continue ;; esac
        found=$((found + 1))
        hit_sock=$sock
        hit_ids=$ids
        hit_id=${line%% *}
      fi
    done <<FLEETMON_SESSIONS
$list
FLEETMON_SESSIONS
  done
  [ "$found" -gt 0 ] || exit 3
  [ "$found" -eq 1 ] || { printf 'tmux-all-users: %s servers of uid %s hold such a session: refused\n' "$found" "$want_uid" >&2; exit 4; }
  if as_owner "${hit_ids% *}" "${hit_ids#* }" "$hit_sock" kill-session -t "$hit_id" <"$work/null" >/dev/null 2>&1; then
    [ -x /usr/bin/logger ] && /usr/bin/logger -t fleetmon-tmux-all-users -- \
      "killed tmux session $hit_id of $(user_name "$want_uid") (uid $want_uid) on $hit_sock ($2, created $created)"
    printf 'killed %s %s\n' "$want_uid" "$hit_sock"
    exit 0
  fi
  exit 1
}

[ "$#" -ge 1 ] || bad 'expected: ping | list | kill UID NAME64 CREATED'
case $1 in
  ping)
    [ "$#" -eq 1 ] || bad 'ping takes no arguments'
    printf 'tmux-all-users v1\n'
    ;;
  list)
    [ "$#" -eq 1 ] || bad 'list takes no arguments'
    list_all
    ;;
  kill)
    [ "$#" -eq 4 ] || bad 'expected: kill UID NAME64 CREATED'
    kill_one "$2" "$3" "$4"
    ;;
  *)
    bad 'unknown verb'
    ;;
esac
