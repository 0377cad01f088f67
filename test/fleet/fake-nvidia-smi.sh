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
host_dir=@HOST_DIR@
data_dir=@DATA_DIR@

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
for a in "$@"; do
  case $a in
    --query-gpu=*) [ -z "$gpu_q" ] || unexpected "$@"; gpu_q=${a#--query-gpu=} ;;
    --query-compute-apps=*) [ -z "$apps_q" ] || unexpected "$@"; apps_q=${a#--query-compute-apps=} ;;
    --format=*) [ -z "$format" ] || unexpected "$@"; format=${a#--format=} ;;
    -q) q=$((q + 1)) ;;
    -x) x=$((x + 1)) ;;
    *) unexpected "$@" ;;
  esac
done

suffix=
[ "$mode" = na ] && suffix=-na

if [ $# -eq 0 ]; then
  exec cat "$data_dir/nvidia-smi.txt"
fi
if [ $# -eq 2 ] && [ "$q" = 1 ] && [ "$x" = 1 ]; then
  exec cat "$data_dir/nvidia-smi-q-busy.xml"
fi
[ $# -eq 2 ] && [ "$format" = csv,noheader,nounits ] || unexpected "$@"

case $gpu_q in
  '') ;;
  index,uuid,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu)
    exec cat "$data_dir/query-gpu-fleetmon$suffix.csv" ;;
  index,name,power.draw,power.limit,memory.used,memory.total,utilization.gpu,temperature.gpu)
    exec cat "$data_dir/query-gpu$suffix.csv" ;;
  *) unexpected "$@" ;;
esac

apps=$data_dir/query-apps-fleetmon.csv
[ -f "$host_dir/gpu-apps.csv" ] && apps=$host_dir/gpu-apps.csv
case $apps_q in
  gpu_uuid,pid,process_name,used_memory) exec cat "$apps" ;;
  # The seed's form has no uuid column: drop the first field of the fleetmon form.
  pid,process_name,used_memory) exec sed 's/^[^,]*, //' "$apps" ;;
  *) unexpected "$@" ;;
esac
