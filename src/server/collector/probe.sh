#!/bin/sh
# fleetmon probe, protocol v1. POSIX sh (dash-safe); started once per host and kept running.
#
# The collector writes one request line per poll:   poll NONCE GPU      (GPU: on | off | auto)
# and the probe answers with sections, each opened by a marker line "@@fm-NONCE NAME [ARGS]":
#   begin v1 PAGESIZE CLK_TCK   then: proc (grep -H of /proc files: "path:line"), df, tmux ("S|…" sessions,
#   "P|…" panes), gpu, gpuapps, each followed by "rc NAME CODE", and finally "end".
# The nonce is random per poll and chosen by the collector, so nothing a monitored user controls (a session name,
# a process name) can forge a marker. The probe never evaluates request text; it only compares it with fixed words.
# It costs a handful of forks per poll: one grep for every /proc file, one df, one tmux, and two nvidia-smi calls on
# GPU hosts, each bounded by timeout(1) so a wedged driver or filesystem cannot hang the stream.
export LC_ALL=C
pagesize=$(getconf PAGESIZE 2>/dev/null || echo 4096)
clk=$(getconf CLK_TCK 2>/dev/null || echo 100)
has_timeout=0
command -v timeout >/dev/null 2>&1 && has_timeout=1

bounded() { # bounded SECONDS CMD ARGS...: run with a deadline when timeout(1) exists
  s=$1
  shift
  if [ "$has_timeout" = 1 ]; then timeout -k 1 "$s" "$@"; else "$@"; fi
}

while IFS=' ' read -r verb nonce gpu _rest; do
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
  echo "$m proc"
  grep -H '' /proc/stat /proc/meminfo /proc/loadavg /proc/uptime /proc/net/dev /proc/[0-9]*/stat 2>/dev/null
  echo "$m rc proc $?"
  echo "$m df"
  bounded 3 df -P -B1 -l -x tmpfs -x devtmpfs -x squashfs -x overlay -x efivarfs 2>/dev/null
  echo "$m rc df $?"
  echo "$m tmux"
  if command -v tmux >/dev/null 2>&1; then
    bounded 5 tmux list-sessions -F 'S|#{session_id}|#{session_created}|#{session_attached}|#{session_windows}|#{session_activity}|#{session_last_attached}|#{session_name}' \; \
      list-panes -a -F 'P|#{session_id}|#{window_index}|#{pane_index}|#{pane_pid}|#{pane_current_command}' 2>&1
    echo "$m rc tmux $?"
  else
    echo "$m rc tmux 127"
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
