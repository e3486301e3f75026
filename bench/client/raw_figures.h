// The machine's own figures that client_bench's targets are ratios of,
// measured by plain system calls in the same run: sequential
// write+fdatasync bandwidth to a new file and the latency of one fdatasync
// (on the file system of `dir`), and loopback TCP bandwidth (one stream
// over 127.0.0.1, both ends in this process). Exits the process with a
// message if the machine refuses a call (no space, no loopback).
#pragma once

#include <string>

namespace raftlog::bench {

struct RawFigures {
  double write_sync_MBps = 0;   // 1 MiB write() + fdatasync(), 256 MiB, new file
  double fdatasync_p50_ms = 0;  // 1 KiB append + fdatasync(), 300 times
  double fdatasync_p99_ms = 0;
  double loopback_MBps = 0;  // 2 GiB in 256 KiB write()s
};

RawFigures MeasureRawFigures(const std::string& dir);

}  // namespace raftlog::bench
