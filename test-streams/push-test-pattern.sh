#!/usr/bin/env bash
# Push a test pattern with a tone to an RTMP URL (1 s GOP, H.264 + AAC), like OBS would.
# Usage: test-streams/push-test-pattern.sh rtmp://127.0.0.1:1935/live/<streamKey> [seconds] [WxH] [fps]
set -euo pipefail
url="${1:?usage: $0 rtmp://host:1935/live/<streamKey> [seconds] [WxH] [fps]}"
seconds="${2:-0}"   # 0 = until interrupted
size="${3:-1280x720}"
fps="${4:-30}"
duration=()
[ "$seconds" != "0" ] && duration=(-t "$seconds")
exec ffmpeg -hide_banner -loglevel warning -re \
  -f lavfi -i "testsrc2=size=${size}:rate=${fps}" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:beep_factor=4" \
  "${duration[@]}" \
  -vf "drawtext=text='%{localtime\:%T} %{n}':x=20:y=20:fontsize=48:fontcolor=white:box=1:boxcolor=black@0.6" \
  -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -g "$fps" -keyint_min "$fps" -sc_threshold 0 -b:v 2500k \
  -c:a aac -b:a 128k -ar 48000 \
  -f flv "$url"
