// One more raw figure for client_bench: the latency of an empty unary gRPC
// call over loopback (client and server in this process; the server
// answers at once on gRPC's callback API, as raftlogd's Produce does). An acks=all record crosses
// at least two such round trips (client -> leader -> client, leader ->
// follower -> leader) besides the fsyncs, so this bounds from below what a
// gRPC-based design can reach on this machine. Context for the latency
// target, not a target itself.
#pragma once

namespace raftlog::bench {

struct GrpcRoundTrip {
  double p50_ms = 0;
  double p99_ms = 0;
};

// `calls` calls, one in flight at a time, after 200 warm-up calls. Exits
// the process with a message if the server cannot start or a call fails.
GrpcRoundTrip MeasureGrpcRoundTrip(int calls = 2000);

}  // namespace raftlog::bench
