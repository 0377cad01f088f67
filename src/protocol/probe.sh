#!/bin/sh
# fleetmon probe, protocol v1. POSIX sh (dash-safe); started once per host and kept running.
#
# The collector writes one request line per poll:   poll NONCE GPU [DISKS]   (GPU: on | off | auto; DISKS: df | nodf,
# df when absent, so an older collector still gets disk usage every poll)
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

while IFS=' ' read -r verb nonce gpu disks _rest; do
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
  echo "$m tmux"
  roots=''
  if command -v tmux >/dev/null 2>&1; then
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
      bounded 5 nvidia-smi --query-compute-apps=gpu_uuid,pid,process_name,used_memory --format=csv,noheader,nounits 2>&1
      echo "$m rc gpuapps $?"
    else
      echo "$m gpu"
      echo "$m rc gpu 127"
    fi
  fi
  echo "$m end"
done
