#!/bin/sh
# fleetmon probe, protocol v1. POSIX sh (dash-safe); started once per host and kept running.
#
# The collector writes one request line per poll:   poll NONCE GPU [DISKS [USERS]]   (GPU: on | off | auto; DISKS:
# df | nodf, df when absent, so an older collector still gets disk usage every poll; USERS: users | own, own when
# absent, so an older collector gets exactly the v1 sections)
# With USERS = users the probe first sends a section "tmuxusers": a line "scope all-users" followed by the root
# helper's answer (FLEETMON_HELPER, run through sudo -n, or directly when the probe runs as root: "T|UID|USER|RC|
# SOCKET" per tmux server, then its S| and P| lines), in which case the "tmux" section is left out; or a line
# "scope own-account REASON" (no helper, sudo refused, helper failed), and the "tmux" section follows as in v1. After
# "gpuapps" it then sends "gpuprocs": "PID|UID|CMDLINE" for each GPU compute process (command line NUL → space,
# at most 512 bytes), so a GPU job outside any session still has an owner, and "gpuusers": "NAME:UID" for those
# owners (getent passwd).
# and the probe answers with sections, each opened by a marker line "@@fm-NONCE NAME [ARGS]":
#   begin v1 PAGESIZE CLK_TCK   then: tmux ("S|…" sessions, "P|…" panes), proc ("path:line" as grep -H prints
#   them: host counters and /proc/PID/stat of the panes' process trees), df (unless nodf), gpu, gpuapps, each followed by
#   "rc NAME CODE", and finally "end". The collector reads sections by name, in any order.
# The nonce is random per poll and chosen by the collector, so nothing a monitored user controls (a session name,
# a process name) can forge a marker. The probe never evaluates request text; it only compares it with fixed words.
# It costs a handful of forks per poll: one tmux, one awk for every /proc file, one df when asked (disk usage moves
# slowly, and df is a third of a poll's cost, so the collector asks for it every few minutes), and two nvidia-smi
# calls on GPU hosts, each bounded by timeout(1) so a wedged driver or filesystem cannot hang the stream.
export LC_ALL=C
pagesize=$(getconf PAGESIZE 2>/dev/null || echo 4096)
clk=$(getconf CLK_TCK 2>/dev/null || echo 100)
has_timeout=0
command -v timeout >/dev/null 2>&1 && has_timeout=1
has_awk=0
command -v awk >/dev/null 2>&1 && has_awk=1
# Prints "path:line" (grep -H's format) for the host files, and for /proc/PID/stat of the roots and all their
# descendants, found through the ppid field (after the last ") ": the command name may hold spaces and parens).
proc_filter='
BEGIN {
  for (i = 1; i < ARGC; i++) {
    f = ARGV[i]
    if (f ~ /^\/proc\/[0-9]+\/stat$/) {
      if ((getline l < f) > 0) {
        pid = substr(f, 7, length(f) - 11)
        n = split(l, parts, /[)] /)
        split(parts[n], fields, " ")
        stat[pid] = l
        kids[fields[2]] = kids[fields[2]] " " pid
      }
    } else {
      while ((getline l < f) > 0) print f ":" l
    }
    close(f)
  }
  n = split(roots, queue, " ")
  for (i = 1; i <= n; i++) {
    pid = queue[i]
    if (pid in seen || !(pid in stat)) continue
    seen[pid] = 1
    print "/proc/" pid "/stat:" stat[pid]
    m = split(kids[pid], more, " ")
    for (j = 1; j <= m; j++) queue[++n] = more[j]
  }
  exit 0
}'

bounded() { # bounded SECONDS CMD ARGS...: run with a deadline when timeout(1) exists
  s=$1
  shift
  if [ "$has_timeout" = 1 ]; then timeout -k 1 "$s" "$@"; else "$@"; fi
}

# The helper's answer is read here, and its pane pids become roots of the process trees sent in "proc".
users_section() {
  helper=${FLEETMON_HELPER-}
  if [ -z "$helper" ] || [ ! -f "$helper" ]; then
    echo "scope own-account no all-users helper installed (fleetmon keys deploy --all-users)"
    return 1
  fi
  if [ "$(id -u)" = 0 ]; then
    uout=$(bounded 8 /bin/sh "$helper" list 2>&1)
  else
    uout=$(bounded 8 sudo -n "$helper" list 2>&1)
  fi
  urc=$?
  case $uout in
    T\|* | '') ;;
    *) [ "$urc" = 0 ] && urc=1 ;;
  esac
  if [ "$urc" != 0 ]; then
    reason=$(printf '%s' "$uout" | head -n 1 | tr -cd '[:print:]' | cut -c 1-200)
    echo "scope own-account the all-users helper failed (exit $urc): $reason"
    return 1
  fi
  echo "scope all-users"
  [ -n "$uout" ] && printf '%s\n' "$uout"
  while IFS='|' read -r kind _sid _win _pane pid _rest; do
    [ "$kind" = P ] || continue
    case $pid in '' | *[!0-9]*) continue ;; esac
    roots="$roots $pid"
  done <<EOF
$uout
EOF
  return 0
}

while IFS=' ' read -r verb nonce gpu disks users _rest; do
  case $verb in
    poll) ;;
    quit) exit 0 ;;
    *) echo "@@fm-error unknown request"; continue ;;
  esac
  case $nonce in
    '' | *[!A-Za-z0-9]*) echo "@@fm-error bad nonce"; continue ;;
  esac
  m="@@fm-$nonce"
  echo "$m begin v1 $pagesize $clk"
  roots=''
  all=0
  if [ "$users" = users ]; then
    echo "$m tmuxusers"
    users_section && all=1
    echo "$m rc tmuxusers 0"
  fi
  if [ "$all" = 1 ]; then
    :
  elif command -v tmux >/dev/null 2>&1; then
    echo "$m tmux"
    # -u: tmux prints names as they are (UTF-8) instead of replacing every non-ASCII character with '_' as it
    # does for a client without a UTF-8 locale (this script runs under LC_ALL=C), which made "uc-é" and "uc-_" one
    # name. tmux itself stores names with control characters, backslashes and invalid UTF-8 already escaped
    # (session_check_name), so each session is still exactly one line.
    out=$(bounded 5 tmux -u list-sessions -F 'S|#{session_id}|#{session_created}|#{session_attached}|#{session_windows}|#{session_activity}|#{session_last_attached}|#{session_name}' \; \
      list-panes -a -F 'P|#{session_id}|#{window_index}|#{pane_index}|#{pane_pid}|#{pane_current_command}' 2>&1)
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out"
    echo "$m rc tmux $rc"
    # The pane pids (5th field of P lines), read without a fork: the roots of the process trees sent below.
    while IFS='|' read -r kind _sid _win _pane pid _rest; do
      [ "$kind" = P ] || continue
      case $pid in '' | *[!0-9]*) continue ;; esac
      roots="$roots $pid"
    done <<EOF
$out
EOF
  else
    echo "$m tmux"
    echo "$m rc tmux 127"
  fi
  echo "$m proc"
  if [ "$has_awk" = 1 ]; then
    # Host counters, plus /proc/PID/stat of the panes' process trees only: every process is read, but only the
    # few that belong to sessions are sent (a host runs hundreds; the server would parse them all to drop them).
    # getline, not awk's own file loop, because a process that exits after the glob must not abort the read.
    awk -v roots="$roots" "$proc_filter" /proc/stat /proc/meminfo /proc/loadavg /proc/uptime /proc/net/dev /proc/[0-9]*/stat 2>/dev/null
  else
    grep -H '' /proc/stat /proc/meminfo /proc/loadavg /proc/uptime /proc/net/dev /proc/[0-9]*/stat 2>/dev/null
  fi
  echo "$m rc proc $?"
  if [ "$disks" != nodf ]; then
    echo "$m df"
    bounded 3 df -P -B1 -l -x tmpfs -x devtmpfs -x squashfs -x overlay -x efivarfs 2>/dev/null
    echo "$m rc df $?"
  fi
  if [ "$gpu" = on ] || { [ "$gpu" = auto ] && command -v nvidia-smi >/dev/null 2>&1; }; then
    if command -v nvidia-smi >/dev/null 2>&1; then
      echo "$m gpu"
      bounded 5 nvidia-smi --query-gpu=index,uuid,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu --format=csv,noheader,nounits 2>&1
      echo "$m rc gpu $?"
      echo "$m gpuapps"
      apps=$(bounded 5 nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv,noheader,nounits 2>&1)
      arc=$?
      [ -n "$apps" ] && printf '%s\n' "$apps"
      echo "$m rc gpuapps $arc"
      if [ "$users" = users ]; then
        echo "$m gpuprocs"
        guids=''
        while IFS=',' read -r _uuid gpid _rest; do
          gpid=${gpid# }
          case $gpid in '' | *[!0-9]*) continue ;; esac
          [ -r "/proc/$gpid/status" ] || continue
          guid=$(awk '$1 == "Uid:" { print $2; exit }' "/proc/$gpid/status" 2>/dev/null)
          gcmd=$(tr '\000\n' '  ' <"/proc/$gpid/cmdline" 2>/dev/null | head -c 512)
          printf '%s|%s|%s\n' "$gpid" "$guid" "$gcmd"
          case $guid in '' | *[!0-9]*) ;; *) case " $guids " in *" $guid "*) ;; *) guids="$guids $guid" ;; esac ;; esac
        done <<EOF
$apps
EOF
        echo "$m rc gpuprocs 0"
        # The owners' names, as the host resolves them (getent: /etc/passwd, LDAP, sssd), one call for all uids.
        echo "$m gpuusers"
        if [ -n "$guids" ]; then
          # shellcheck disable=SC2086 # the uids are digits only, split on purpose
          bounded 3 getent passwd $guids 2>/dev/null | cut -d: -f1,3
        fi
        echo "$m rc gpuusers 0"
      fi
    else
      echo "$m gpu"
      echo "$m rc gpu 127"
    fi
  fi
  echo "$m end"
done
