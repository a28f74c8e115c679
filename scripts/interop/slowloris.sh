#!/usr/bin/env bash
# Interop suite: the slowloris drill (scripts/drills/slowloris) against the
# stack ./scripts/test started: 400 connections trickle request heads into the
# OCSP and admin listeners while ordinary requests are timed; every trickling
# connection must be closed by the header deadline, and p99 must stay within 2x
# of the undisturbed figure. About 27 s.
#
# A p99 comparison on a shared 2-core machine can be upset by a burst of other
# work (undisturbed windows alone vary up to 2x there), so when the latency
# criterion alone fails the drill is run once more and that run decides; any
# other failure (a trickling connection not closed in time, a failed ordinary
# request) fails at once.
#
#   set -a; source <data>/dev.env; set +a; bash scripts/interop/slowloris.sh
set -Eeuo pipefail
drill="$(dirname "${BASH_SOURCE[0]}")/../drills/slowloris"
status=0
bash "$drill" || status=$?
if [ "$status" = 2 ]; then
    echo "slowloris: the latency criterion alone failed; measuring once more" >&2
    sleep 5  # the first run's connections and OCSP rate-limit window settle
    exec bash "$drill"
fi
exit "$status"
