#!/bin/sh
# fleetmon probe, protocol v1. POSIX sh (dash-safe); started once per host and kept running.
#
# The collector writes one request line per poll:   poll NONCE GPU [DISKS [USERS [INTERVAL_MS]]]   (GPU: on | off | auto; DISKS:
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
# slowly, and df is a third of a poll's cost, so the collector asks for it every few minutes), each bounded by
# timeout(1) so a wedged driver or filesystem cannot hang the stream.
#
# nvidia-smi is not forked per poll when the request carries the poll interval (6th word, INTERVAL_MS: the
# collector sends it): the probe keeps two resident readers, `nvidia-smi --query-gpu=count,… --loop-ms=INTERVAL`
# and `--query-compute-apps=… --loop-ms=INTERVAL`, each piped into a reader loop (smi_frame) that writes every
# complete block, stamped with the time it arrived, into a private 0700 directory (mktemp -d, removed on exit).
# A poll reads the latest block with sh builtins. A real nvidia-smi pays driver and NVML start-up on every call
# (tens to hundreds of ms of host CPU); in loop mode it pays that once. The answer then has a section
# "gpuresident", one line per query, "gpu|gpuapps STATE AGE_MS [CAUSE]":
#   fresh    the rows are the reader's latest block, AGE_MS old (at most one interval + 1 s)
#   oneoff   the rows come from a one-off call as before (a reader just started, or loop mode is unusable here:
#            after 3 readers exited without a block the probe stops trying, e.g. an nvidia-smi without --loop-ms,
#            until a one-off call works again where loop mode once worked)
#   failed   nvidia-smi in loop mode exited with an error (a driver failure): its message and exit code, as a
#            one-off call would give them (the reader is restarted)
#   stale    no rows (rc 124): the reader exited (CAUSE exited) or its latest block is older than one interval + 1 s
#            (CAUSE stalled, the reader is killed); it is restarted, and the collector reports it as a host problem,
#            so a poll never passes old GPU data off as current. A stalled reader that does not die (a wedged
#            driver) is not started again while it lives, so they cannot pile up.
# Compute apps have no count to close a block: rows that arrive less than half an interval apart are one block,
# and an apps block older than one interval + 1 s means no compute processes (nvidia-smi prints nothing then) -
# trusted only while the GPU reader is fresh in the same poll, otherwise the apps are stale too.
export LC_ALL=C
pagesize=$(getconf PAGESIZE 2>/dev/null || echo 4096)
clk=$(getconf CLK_TCK 2>/dev/null || echo 100)
has_timeout=0
command -v timeout >/dev/null 2>&1 && has_timeout=1
has_awk=0
command -v awk >/dev/null 2>&1 && has_awk=1
GPU_FIELDS=index,uuid,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu
APPS_FIELDS=gpu_uuid,pid,process_name,used_memory
probe_pid=$$
rdir=''         # the readers' private directory, made on first use
res_ivl=''      # the interval the readers run at (ms); empty: no resident readers
res_off=0       # 1: loop mode gave up for this probe's lifetime
res_strikes=0   # readers that exited on their own without a block since the last fresh GPU block
res_ever=0      # 1: a resident reader gave a block in this probe's life (so loop mode works here)
res_gen=0
gpu_run=0
gpu_base=''
gpu_start=0
gpu_seen=0
gpu_wedged=''
gpu_stale=0
gpu_frame=''
apps_run=0
apps_base=''
apps_start=0
apps_seen=0
apps_wedged=''
apps_stale=0
apps_frame=''

now_cs() { # sets now: centiseconds since boot, from /proc/uptime without a fork ("1" prefix: "08" is not octal)
  read -r up _ </proc/uptime
  now=$((${up%.*} * 100 + 1${up#*.} - 100))
}

# smi_frame KIND BASE INTERVAL_MS: reads one resident nvidia-smi's output; writes each complete block between
# "@fm-start SEQ" and "@fm-block SEQ ARRIVED_CS ROWS" to BASE.0 / BASE.1 in turn, and BASE.dead when the reader ends.
# A poll takes the whole block with the higher SEQ: a read that met the writer rewriting a file mixes two blocks,
# whose opening and closing SEQ differ (or whose rows do not add up), and is left for the other file.
smi_frame() {
  fk=$1
  fb=$2
  gap=$(($3 / 20))
  seq=0
  blk=''
  n=0
  last=0
  err=''
  code=''
  while IFS= read -r line; do
    # The probe is gone: stop, so nvidia-smi dies of SIGPIPE at its next block instead of running on forever.
    kill -0 "$probe_pid" 2>/dev/null || exit 0
    case $line in
      '@fm-exit '*)
        code=${line#@fm-exit }
        break
        ;;
    esac
    # Only a process name with a newline in it could start a line so; it must not pass for a block's own line.
    case $line in '@fm-'*) continue ;; esac
    now_cs
    if [ "$fk" = gpu ]; then
      # "COUNT, INDEX, …": the count field says how many rows close the block; it is dropped from the rows.
      cnt=${line%%, *}
      case $cnt in
        '' | *[!0-9]*)
          err="$line" # not a row: what nvidia-smi says when it fails (kept for the answer)
          continue
          ;;
      esac
      row=${line#*, }
      if [ "${row%%,*}" = 0 ]; then
        blk=''
        n=0
      fi
      [ "$n" -lt 256 ] || continue
      blk="$blk$row
"
      n=$((n + 1))
      [ "$n" -ge "$cnt" ] || continue
      seq=$((seq + 1))
      printf '@fm-start %s\n%s@fm-block %s %s %s\n' "$seq" "$blk" "$seq" "$now" "$n" >"$fb.$((seq % 2))"
      blk=''
      n=0
    else
      case $line in
        *', '*', '*', '*) ;;
        *)
          err="$line"
          continue
          ;;
      esac
      if [ $((now - last)) -gt "$gap" ]; then
        seq=$((seq + 1))
        blk=''
        n=0
      fi
      last=$now
      [ "$n" -lt 4096 ] || continue
      blk="$blk$line
"
      n=$((n + 1))
      printf '@fm-start %s\n%s@fm-block %s %s %s\n' "$seq" "$blk" "$seq" "$now" "$n" >"$fb.$((seq % 2))"
    fi
  done
  # Not when the probe is exiting: its cleanup has removed the directory, which must stay removed.
  [ -d "${fb%/*}" ] && printf '%s\n%s\n' "${code:-0}" "$err" >"$fb.dead"
}

smi_start() { # KIND (gpu | apps): a new resident reader at res_ivl, in files of its own generation
  res_gen=$((res_gen + 1))
  sb="$rdir/$1.$res_gen"
  if [ "$1" = gpu ]; then sq="--query-gpu=count,$GPU_FIELDS"; else sq="--query-compute-apps=$APPS_FIELDS"; fi
  (
    nvidia-smi "$sq" --format=csv,noheader,nounits --loop-ms="$res_ivl" 2>&1 &
    echo "$!" >"$sb.pid"
    wait "$!"
    echo "@fm-exit $?"
  ) </dev/null 2>/dev/null | smi_frame "$1" "$sb" "$res_ivl" >/dev/null 2>&1 &
  sf=$!
  now_cs
  eval "$1_run=1 $1_base=\$sb $1_start=\$now $1_seen=0 $1_frame=\$sf"
}

smi_pid() { # BASE: sets p to that reader's nvidia-smi pid (empty when not known yet)
  p=''
  [ -n "$1" ] && [ -r "$1.pid" ] && read -r p <"$1.pid"
}

smi_stop() { # KIND: kill its reader if it runs (its frame loop ends with it); never a pid of a reader long gone
  eval "sb=\$$1_base r=\$$1_run"
  [ "$r" = 1 ] || return 0
  smi_pid "$sb"
  [ -n "$p" ] && kill "$p" 2>/dev/null
  eval "$1_run=0"
}

smi_latest() { # BASE: sets bseq, bat and rows (no trailing newline) from the latest complete block, if any
  bseq=-1
  bat=''
  rows=''
  for f in "$1.0" "$1.1"; do
    [ -r "$f" ] || continue
    r=''
    h=''
    s=''
    a=''
    w=''
    c=0
    while IFS= read -r l; do
      case $l in
        '@fm-start '*) h=${l#@fm-start } ;;
        '@fm-block '*)
          t=${l#@fm-block }
          s=${t%% *}
          t=${t#* }
          a=${t%% *}
          w=${t#* }
          ;;
        *)
          r="$r$l
"
          c=$((c + 1))
          ;;
      esac
    done <"$f"
    # Numbers only (arithmetic on anything else would end the probe), one block whole, or not this file.
    case "$h.$s.$a.$w" in *[!0-9.]* | .* | *..* | *.) continue ;; esac
    [ "$h" = "$s" ] && [ "$c" = "$w" ] || continue
    if [ "$s" -gt "$bseq" ]; then
      bseq=$s
      bat=$a
      rows=${r%?}
    fi
  done
}

# smi_poll KIND: where this poll's rows of KIND come from. Sets st (fresh: $rows; stale: none, $cause; oneoff:
# the caller runs nvidia-smi once) and age (ms). For apps, gst is the GPU query's state in this poll.
smi_poll() {
  st=oneoff
  age=0
  cause=''
  rows=''
  [ -n "$res_ivl" ] || return 0
  k=$1
  eval "run=\$${k}_run sb=\$${k}_base started=\$${k}_start seen=\$${k}_seen wedged=\$${k}_wedged stale=\$${k}_stale"
  now_cs
  lim=$((res_ivl / 10 + 100)) # one interval, plus 1 s for nvidia-smi's own query time (cs)
  if [ "$run" = 0 ]; then
    if [ -n "$wedged" ] && kill -0 "$wedged" 2>/dev/null; then
      st=stale
      cause=stalled
      age=$(((now - started) * 10))
      kill -9 "$wedged" 2>/dev/null
      return 0
    fi
    eval "${k}_wedged=''"
    smi_start "$k"
    # Restarted after going stale: stale until its first block (a one-off call could hang on the same driver).
    if [ "$stale" = 1 ]; then
      st=stale
      cause=stalled
    fi
    return 0
  fi
  smi_latest "$sb"
  if [ -r "$sb.dead" ]; then
    # Exited on its own (killed, driver failure, no loop mode): restart it; after 3 exits without a block, stop
    # trying until a one-off call works again.
    code=''
    msg=''
    { read -r code && read -r msg; } <"$sb.dead"
    # That generation's files are read: gone now, so a host whose reader keeps dying does not fill the directory.
    rm -f "$sb.0" "$sb.1" "$sb.pid" "$sb.dead"
    [ "$seen" = 1 ] || res_strikes=$((res_strikes + 1))
    case $code in '' | *[!0-9]*) code=0 ;; esac
    if [ "$code" -gt 0 ] && [ "$code" -lt 128 ]; then
      # nvidia-smi itself failed (a driver error): its message and exit code, as a one-off call reports them.
      st=failed
      rows=$msg
      frc=$code
    elif [ "$seen" = 1 ] || [ "$stale" = 1 ]; then
      st=stale
      cause=exited
      eval "${k}_stale=1"
      if [ -n "$bat" ]; then age=$(((now - bat) * 10)); else age=$(((now - started) * 10)); fi
    fi
    eval "${k}_run=0"
    if [ "$res_strikes" -ge 3 ]; then
      res_off=1
      res_ivl=''
      smi_stop gpu
      smi_stop apps
    else
      smi_start "$k"
    fi
    return 0
  fi
  if [ "$k" = gpu ]; then
    if [ "$bseq" -ge 0 ] && [ $((now - bat)) -le "$lim" ]; then
      st=fresh
      age=$(((now - bat) * 10))
      gpu_seen=1
      gpu_stale=0
      res_ever=1
      res_strikes=0
      return 0
    fi
    if [ "$bseq" -lt 0 ] && [ $((now - started)) -le "$lim" ]; then # its first block is still to come
      if [ "$stale" = 1 ]; then
        st=stale
        cause=stalled
        age=$(((now - started) * 10))
      fi
      return 0
    fi
  else
    case $gst in
      fresh)
        if [ $((now - started)) -ge 100 ]; then # an idle GPU's apps reader prints nothing: give it a second to start
          st=fresh
          apps_seen=1
          apps_stale=0
          if [ "$bseq" -ge 0 ] && [ $((now - bat)) -le "$lim" ]; then age=$(((now - bat) * 10)); else rows=''; fi
        fi
        return 0
        ;;
      oneoff) return 0 ;;
    esac
  fi
  # Stalled: no block for longer than one interval (or the GPU reader stalled in this poll). Kill it; the next
  # poll starts a new one once this one is gone.
  st=stale
  cause=stalled
  if [ "$bseq" -ge 0 ]; then age=$(((now - bat) * 10)); else age=$(((now - started) * 10)); fi
  smi_pid "$sb"
  smi_stop "$k"
  eval "${k}_wedged=\$p ${k}_stale=1"
}

cleanup() {
  # The frame loops first, so none writes its death marker after the directory is removed; then the readers.
  [ "$gpu_run" = 1 ] && kill -9 "$gpu_frame" 2>/dev/null
  [ "$apps_run" = 1 ] && kill -9 "$apps_frame" 2>/dev/null
  smi_stop gpu
  smi_stop apps
  # A frame that had already passed its directory check: remove the directory again a second later (one fork, at
  # exit only).
  if [ -n "$rdir" ]; then
    rm -rf "$rdir" 2>/dev/null
    { sleep 1; rm -rf "$rdir"; } </dev/null >/dev/null 2>&1 &
  fi
}
# add_pane_roots TMUX_OUTPUT: adds the pane pids (5th field of P lines) to $roots, read without a fork: the roots of
# the process trees sent in the proc section.
add_pane_roots() {
  while IFS='|' read -r kind _sid _win _pane pid _rest; do
    [ "$kind" = P ] || continue
    case $pid in '' | *[!0-9]*) continue ;; esac
    roots="$roots $pid"
  done <<EOF
$1
EOF
}

trap cleanup EXIT
# PIPE too: the collector's channel gone mid-write must still remove the private directory (an untrapped SIGPIPE
# ends dash without its EXIT trap).
trap 'exit 1' HUP INT TERM PIPE
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
  add_pane_roots "$uout"
  return 0
}

while IFS=' ' read -r verb nonce gpu disks users ivl _rest; do
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
    add_pane_roots "$out"
  else
    echo "$m tmux"
    echo "$m rc tmux 127"
  fi
  echo "$m proc"
  if [ "$has_awk" = 1 ]; then
    # Host counters, plus /proc/PID/stat of the panes' process trees only: every process is read, but only the
    # few that belong to sessions are sent (a host runs hundreds; the server would parse them all to drop them).
    # getline, not awk's own file loop, because a process that exits after the glob must not abort the read.
    # awk stays, measured (2-core VM, 92 processes, 20 runs): the same files read and printed with dash's `read`
    # builtin cost 11.5 ms per poll (dash reads a byte per syscall), one awk fork 3 ms, tree walk included.
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
      case $ivl in '' | *[!0-9]*) ivl='' ;; esac
      [ -n "$ivl" ] && [ "$ivl" -lt 100 ] && ivl=''
      [ "$res_off" = 1 ] && ivl=''
      if [ "$ivl" != "$res_ivl" ]; then # a new interval (or none): the readers restart at it
        smi_stop gpu
        smi_stop apps
        res_ivl=$ivl
      fi
      if [ -n "$res_ivl" ] && [ -z "$rdir" ]; then
        rdir=$(mktemp -d "${TMPDIR:-/tmp}/fleetmon-probe.XXXXXXXX" 2>/dev/null) || rdir=''
        [ -n "$rdir" ] || { res_off=1; res_ivl=''; }
      fi
      echo "$m gpu"
      smi_poll gpu
      gst=$st
      gline="gpu $st $age${cause:+ $cause}"
      case $st in
        fresh) [ -n "$rows" ] && printf '%s\n' "$rows"; grc=0 ;;
        stale) grc=124 ;;
        failed) [ -n "$rows" ] && printf '%s\n' "$rows"; grc=$frc ;;
        *)
          bounded 5 nvidia-smi --query-gpu=$GPU_FIELDS --format=csv,noheader,nounits 2>&1
          grc=$?
          # Loop mode worked here before and was given up (a failing driver): try it again now that a call works.
          if [ "$grc" = 0 ] && [ "$res_off" = 1 ] && [ "$res_ever" = 1 ]; then
            res_off=0
            res_strikes=0
          fi
          ;;
      esac
      echo "$m rc gpu $grc"
      echo "$m gpuapps"
      smi_poll apps
      aline="gpuapps $st $age${cause:+ $cause}"
      case $st in
        fresh) apps=$rows; arc=0 ;;
        stale) apps=''; arc=124 ;;
        failed) apps=$rows; arc=$frc ;;
        *)
          apps=$(bounded 5 nvidia-smi --query-compute-apps=$APPS_FIELDS --format=csv,noheader,nounits 2>&1)
          arc=$?
          ;;
      esac
      [ -n "$apps" ] && printf '%s\n' "$apps"
      echo "$m rc gpuapps $arc"
      if [ -n "$ivl" ] || [ "$res_off" = 1 ]; then
        echo "$m gpuresident"
        echo "$gline"
        echo "$aline"
        echo "$m rc gpuresident 0"
      fi
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
      [ "$gpu_run" = 1 ] && smi_stop gpu
      [ "$apps_run" = 1 ] && smi_stop apps
      res_ivl=''
      echo "$m gpu"
      echo "$m rc gpu 127"
    fi
  fi
  echo "$m end"
done
