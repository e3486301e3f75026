// BrokerLifecycle: register, then heartbeat; register again when told.
#include "broker/broker_lifecycle.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"

namespace raftlog::broker {

BrokerLifecycle::BrokerLifecycle(MetadataService* service, Node* node,
                                 BrokerLifecycleOptions options)
    : service_(service), node_(node), options_(std::move(options)) {}

BrokerLifecycle::~BrokerLifecycle() { Stop(); }

void BrokerLifecycle::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

void BrokerLifecycle::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool BrokerLifecycle::Sleep(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> l(mu_);
  return !cv_.wait_for(l, d, [&] { return stop_; });
}

MetadataCallOptions BrokerLifecycle::CallOptions() const {
  MetadataCallOptions o;
  o.deadline = std::chrono::system_clock::now() + options_.call_timeout;
  return o;
}

std::map<uint64_t, uint64_t> BrokerLifecycle::Leading() const {
  std::map<uint64_t, uint64_t> leading;
  for (GroupId id : node_->GroupIds()) {
    if (id == kMetadataGroup) continue;
    std::shared_ptr<RaftGroup> g = node_->FindGroup(id);
    if (g != nullptr && g->is_leader()) leading[id] = g->term();
  }
  return leading;
}

bool BrokerLifecycle::WaitForNextHeartbeat(const std::map<uint64_t, uint64_t>& reported) {
  const auto due = std::chrono::steady_clock::now() + options_.heartbeat_interval;
  while (std::chrono::steady_clock::now() < due) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        due - std::chrono::steady_clock::now());
    if (!Sleep(std::min(left, options_.leadership_check_interval))) return false;
    if (Leading() != reported) return true;
  }
  return true;
}

void BrokerLifecycle::Loop() {
  int failures = 0;
  while (true) {
    if (epoch_.load() == 0) {
      mdpb::RegisterBrokerRequest req;
      req.set_node_id(options_.self.value());
      for (const std::string& a : options_.addresses) req.add_addresses(a);
      absl::StatusOr<mdpb::RegisterBrokerResponse> r = service_->RegisterBroker(req, CallOptions());
      if (r.ok()) {
        epoch_.store(r->broker().epoch());
        LOG(INFO) << "registered as broker " << options_.self << " (epoch " << r->broker().epoch()
                  << ")";
        failures = 0;
        if (!Sleep(options_.heartbeat_interval)) return;
        continue;
      }
      if (++failures % 20 == 1) LOG(WARNING) << "broker registration: " << r.status();
      if (!Sleep(options_.retry_interval)) return;
      continue;
    }
    mdpb::BrokerHeartbeatRequest req;
    req.set_node_id(options_.self.value());
    req.set_broker_epoch(epoch_.load());
    const std::map<uint64_t, uint64_t> leading = Leading();
    for (const auto& [group, term] : leading) {
      mdpb::LedPartition* p = req.add_leading();
      p->set_group_id(group);
      p->set_term(term);
    }
    absl::StatusOr<mdpb::BrokerHeartbeatResponse> r = service_->BrokerHeartbeat(req, CallOptions());
    if (r.ok()) {
      if (r->unfenced()) LOG(INFO) << "broker " << options_.self << " unfenced";
      failures = 0;
      if (!WaitForNextHeartbeat(leading)) return;
      continue;
    }
    if (absl::IsNotFound(r.status()) || absl::IsFailedPrecondition(r.status())) {
      LOG(WARNING) << "heartbeat refused (" << r.status() << "); registering again";
      epoch_.store(0);
      continue;
    }
    if (++failures % 20 == 1) LOG(WARNING) << "broker heartbeat: " << r.status();
    if (!Sleep(options_.retry_interval)) return;
  }
}

}  // namespace raftlog::broker
