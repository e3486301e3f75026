// BrokerLifecycle: this node's place in the broker registry. At start it
// registers (RegisterBroker with its advertised address; a new epoch each
// start), then heartbeats the controller every heartbeat_interval (Kafka's
// broker.heartbeat.interval.ms) so that it is not fenced. Each heartbeat
// carries the partition groups this node leads (with their terms): the
// controller's leader map for GetMetadata. A change of that set is sent at
// once (checked every leadership_check_interval). A heartbeat
// answered NOT_FOUND (registration gone) or FAILED_PRECONDITION (stale
// epoch) registers again at once; other failures (no metadata leader yet,
// leader moving) are retried every retry_interval. Calls go through the
// MetadataService's in-process API, which forwards to the metadata leader.
//
// THREADS: one background thread; Stop() (or the destructor) joins it
// within one call's deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/metadata_service.h"

namespace raftlog::broker {

struct BrokerLifecycleOptions {
  raft::NodeId self;
  std::vector<std::string> addresses;  // advertised host:port
  std::chrono::milliseconds heartbeat_interval{2000};
  std::chrono::milliseconds leadership_check_interval{200};
  std::chrono::milliseconds retry_interval{500};
  std::chrono::milliseconds call_timeout{5000};
};

class BrokerLifecycle {
 public:
  // `service` and `node` must outlive this.
  BrokerLifecycle(MetadataService* service, Node* node, BrokerLifecycleOptions options);
  ~BrokerLifecycle();
  BrokerLifecycle(const BrokerLifecycle&) = delete;
  BrokerLifecycle& operator=(const BrokerLifecycle&) = delete;

  void Start();
  void Stop();
  // The epoch of the current registration; 0 until registered.
  uint64_t epoch() const { return epoch_.load(); }

 private:
  void Loop();
  // Sleeps `d` unless stopped; false once stopping.
  bool Sleep(std::chrono::milliseconds d);
  MetadataCallOptions CallOptions() const;
  // The partition groups this node leads now, by group id.
  std::map<uint64_t, uint64_t> Leading() const;
  // Sleeps until the next heartbeat is due or the led set changes; false
  // once stopping.
  bool WaitForNextHeartbeat(const std::map<uint64_t, uint64_t>& reported);

  MetadataService* const service_;
  Node* const node_;
  const BrokerLifecycleOptions options_;
  std::atomic<uint64_t> epoch_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace raftlog::broker
