#!/bin/sh
# Fake nvidia-smi of a test-fleet host: replays the real H100 capture in test/fixtures/gpu-host-h100/.
# POSIX sh (dash). The fleet helper installs it as <host dir>/bin/nvidia-smi with the two paths below filled in.
# It answers only the invocations fleetmon (and the seed it replaces) make; anything else exits 2, so a test
# notices an unexpected call instead of parsing a made-up answer.
#
# <host dir>/gpu-mode (one word, read on every call, so tests switch it at run time):
#   replay  the captured files (default)
#   fail    the driver error real nvidia-smi prints, exit 9
#   hang    block while the mode stays "hang" (polls once a second, so nothing outlives the fleet by more than 1 s)
#   na      as replay, but power and temperature fields read [N/A] / [Not Supported]
# ("missing" is done by removing this script from the host's PATH, not here.)
# <host dir>/gpu-apps.csv, when present, replaces the captured compute apps (whose pids do not exist locally);
# same format as the fleetmon form: "gpu_uuid, pid, process_name, used_memory" per line.
# Loop mode (--loop-ms=MS or -lms MS) behaves like the real one: one block per interval until killed, the mode and
# the files re-read for every block (hang: no block that interval; fail: the driver error, exit 9). The loop is one
# resident perl process sleeping in select(), so like the real nvidia-smi it forks nothing per block.
# Every invocation appends its arguments to <host dir>/nvidia-smi.calls, so tests can count forks.
host_dir=@HOST_DIR@
data_dir=@DATA_DIR@
echo "$*" >>"$host_dir/nvidia-smi.calls" 2>/dev/null

mode_now() {
  mode=replay
  if [ -r "$host_dir/gpu-mode" ]; then
    read -r mode <"$host_dir/gpu-mode" || true
  fi
}

mode_now
while [ "$mode" = hang ] && [ -d "$host_dir" ]; do
  sleep 1 </dev/null >/dev/null 2>&1
  mode_now
done

case $mode in
  replay | na) ;;
  fail)
    echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
    exit 9
    ;;
  *)
    echo "fake nvidia-smi: unknown mode '$mode' in $host_dir/gpu-mode" >&2
    exit 2
    ;;
esac

unexpected() {
  echo "fake nvidia-smi: unexpected invocation: nvidia-smi $*" >&2
  exit 2
}

gpu_q=
apps_q=
format=
q=0
x=0
loop_ms=
next=
n=0
for a in "$@"; do
  if [ "$next" = lms ]; then
    loop_ms=$a
    next=
    continue
  fi
  n=$((n + 1))
  case $a in
    --loop-ms=*) [ -z "$loop_ms" ] || unexpected "$@"; loop_ms=${a#--loop-ms=}; n=$((n - 1)) ;;
    -lms) [ -z "$loop_ms" ] || unexpected "$@"; next=lms; n=$((n - 1)) ;;
    --query-gpu=*) [ -z "$gpu_q" ] || unexpected "$@"; gpu_q=${a#--query-gpu=} ;;
    --query-compute-apps=*) [ -z "$apps_q" ] || unexpected "$@"; apps_q=${a#--query-compute-apps=} ;;
    --format=*) [ -z "$format" ] || unexpected "$@"; format=${a#--format=} ;;
    -q) q=$((q + 1)) ;;
    -x) x=$((x + 1)) ;;
    *) unexpected "$@" ;;
  esac
done

if [ $# -eq 0 ]; then
  exec cat "$data_dir/nvidia-smi.txt"
fi
if [ $# -eq 2 ] && [ "$q" = 1 ] && [ "$x" = 1 ]; then
  exec cat "$data_dir/nvidia-smi-q-busy.xml"
fi
[ "$n" -eq 2 ] && [ -z "$next" ] && [ "$format" = csv,noheader,nounits ] || unexpected "$@"
case $loop_ms in '' | [0-9]*) ;; *) unexpected "$@" ;; esac
case $loop_ms in *[!0-9]*) unexpected "$@" ;; esac

# What one block is: FILE [NA_FILE] [OVERRIDE], with COUNT (prefix "count, " = the number of rows, as the real
# count field gives) and DROP (drop the first field).
count=0
drop=0
na_file=
override=
case $gpu_q in
  '') ;;
  count,index,uuid,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu)
    count=1; file=$data_dir/query-gpu-fleetmon.csv; na_file=$data_dir/query-gpu-fleetmon-na.csv ;;
  index,uuid,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu)
    file=$data_dir/query-gpu-fleetmon.csv; na_file=$data_dir/query-gpu-fleetmon-na.csv ;;
  index,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu)
    file=$data_dir/query-gpu.csv; na_file=$data_dir/query-gpu-na.csv ;;
  *) unexpected "$@" ;;
esac
case $apps_q in
  '') ;;
  gpu_uuid,pid,process_name,used_memory) file=$data_dir/query-apps-fleetmon.csv; override=$host_dir/gpu-apps.csv ;;
  # The seed's form has no uuid column: drop the first field of the fleetmon form.
  pid,process_name,used_memory) file=$data_dir/query-apps-fleetmon.csv; override=$host_dir/gpu-apps.csv; drop=1 ;;
  *) unexpected "$@" ;;
esac

if [ -z "$loop_ms" ]; then
  # One answer, as before loop mode existed (cat, not perl: the per-call cost the bench compares against).
  [ "$count" = 0 ] || unexpected "$@"
  [ "$mode" = na ] && [ -n "$na_file" ] && file=$na_file
  [ -n "$override" ] && [ -f "$override" ] && file=$override
  if [ "$drop" = 1 ]; then exec sed 's/^[^,]*, //' "$file"; fi
  exec cat "$file"
fi
exec perl -e '
  use strict;
  my ($ms, $hostdir, $file, $na, $override, $count, $drop, $args) = @ARGV;
  $0 = "nvidia-smi $args"; # the command line ps shows, as for the real one
  $| = 1;
  for (;;) {
    exit 0 unless -d $hostdir;
    my $mode = "replay";
    if (open(my $m, "<", "$hostdir/gpu-mode")) { my $l = <$m>; close $m; if (defined $l) { chomp $l; $mode = $l if $l ne "" } }
    if ($mode eq "fail") {
      print "NVIDIA-SMI has failed because it couldn\x27t communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n";
      exit 9;
    }
    if ($mode ne "hang") {
      my $f = ($override ne "" && -f $override) ? $override : ($mode eq "na" && $na ne "") ? $na : $file;
      if (open(my $d, "<", $f)) {
        my @rows = <$d>;
        close $d;
        s/^[^,]*, // for $drop ? @rows : ();
        my $n = @rows;
        print $count ? map { "$n, $_" } @rows : @rows;
      }
    }
    select(undef, undef, undef, $ms / 1000);
  }
' "$loop_ms" "$host_dir" "$file" "$na_file" "$override" "$count" "$drop" "$*"
