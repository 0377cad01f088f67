#!/bin/sh
# tmux as a test-fleet host's PATH finds it. Normally it is the real tmux; while the host's `fleetmon-hang` marker
# exists it blocks first, so the probe's poll hangs while sshd still accepts connections (FakeHost.setProbeHang).
# It re-checks once a second rather than sleeping long, so a hung call ends soon after the marker (or the whole
# host directory) is removed and nothing outlives the fleet.
while [ -e @HANG_MARKER@ ]; do sleep 1 </dev/null >/dev/null 2>&1; done
exec @TMUX@ "$@"
