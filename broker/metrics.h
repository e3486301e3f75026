// MetricsRegistry: the node's metrics, rendered in the Prometheus text
// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
// Two kinds of sources:
//  - Counter / Gauge objects owned by the registry: lock-free updates on the
//    hot path (one atomic op), stable addresses for the registry's lifetime.
//  - Collectors: callbacks run at scrape time that append samples of the
//    families they declared. The node uses one to walk its Raft groups (role,
//    term, commit index, follower lag...), so a scrape needs no metric object
//    per group and 1,000 idle groups cost nothing between scrapes.
//
// Invariants:
//  - Every family name, label name and the family's type are validated when
//    registered; an invalid one fails with InvalidArgument and nothing is added,
//    so a rendered page is always well-formed. A collector's sample that names
//    an undeclared family or carries an invalid label name is dropped (and
//    counted in dropped_samples()), never rendered.
//  - A family name belongs to one source (one collector, or the registry's own
//    counters/gauges of one type); a second claim fails with AlreadyExists.
//  - Render() is deterministic: families sorted by name, one `# HELP` and one
//    `# TYPE` line each, samples in registration / collection order. Families
//    without samples at scrape time are left out.
//  - Thread-safe: registration, updates and Render() may run on any thread.
//    Render() calls collectors one scrape at a time, without holding the
//    registration lock (a collector may register metrics, but must not call
//    RemoveCollector). After RemoveCollector returns, its callback is never
//    called again.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace raftlog::broker {

enum class MetricType { kCounter, kGauge, kUntyped };

// Label name/value pairs, rendered in the given order.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count.
class Counter {
 public:
  void Inc() { value_.fetch_add(1, std::memory_order_relaxed); }
  void Add(uint64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// What a collector declares up front for each family it will emit.
struct MetricFamilyInfo {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
};

// Handed to a collector during a scrape; Add appends one sample.
class MetricSampleSink {
 public:
  // `family` must be one the collector declared; label names must be valid
  // and distinct. Otherwise the sample is dropped (see dropped_samples()).
  void Add(std::string_view family, const MetricLabels& labels, double value);

  // A family being rendered: its header fields and its sample lines so far.
  struct Family {
    std::string help;
    MetricType type = MetricType::kUntyped;
    uint64_t owner = 0;  // collector id; 0 for the registry's own series
    std::string lines;
  };
  using FamilyMap = std::map<std::string, Family, std::less<>>;

 private:
  friend class MetricsRegistry;
  MetricSampleSink(FamilyMap* families, uint64_t collector, std::atomic<uint64_t>* dropped)
      : families_(families), collector_(collector), dropped_(dropped) {}

  FamilyMap* families_;
  uint64_t collector_;
  std::atomic<uint64_t>* dropped_;
};

class MetricsRegistry {
 public:
  using CollectorId = uint64_t;
  using CollectFn = std::function<void(MetricSampleSink&)>;

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // A counter/gauge series of family `name`. Several series may share a family
  // (same name, same type, same help) if their label sets differ. The pointer
  // stays valid for the registry's lifetime.
  absl::StatusOr<Counter*> AddCounter(std::string_view name, std::string_view help,
                                      MetricLabels labels = {});
  absl::StatusOr<Gauge*> AddGauge(std::string_view name, std::string_view help,
                                  MetricLabels labels = {});

  // Registers `collect`, which may emit samples of `families` only.
  absl::StatusOr<CollectorId> AddCollector(std::vector<MetricFamilyInfo> families,
                                           CollectFn collect);
  // Unregisters a collector and frees its family names. Waits for a scrape in
  // progress; unknown ids are ignored.
  void RemoveCollector(CollectorId id);

  // The whole page in text format 0.0.4.
  std::string Render() const;

  // Collector samples dropped for naming an undeclared family or bad labels.
  uint64_t dropped_samples() const { return dropped_samples_.load(std::memory_order_relaxed); }

 private:
  struct OwnedSeries {
    MetricLabels labels;
    std::unique_ptr<Counter> counter;  // exactly one of counter/gauge is set
    std::unique_ptr<Gauge> gauge;
  };
  struct OwnedFamily {
    std::string help;
    MetricType type;
    std::vector<OwnedSeries> series;
  };
  struct Collector {
    std::vector<MetricFamilyInfo> families;
    CollectFn collect;
  };

  struct SeriesHandle {
    Counter* counter;  // set for kCounter
    Gauge* gauge;      // set for kGauge
  };
  absl::StatusOr<SeriesHandle> AddOwnedSeries(std::string_view name, std::string_view help,
                                              MetricType type, MetricLabels labels);
  // Caller holds mu_.
  bool NameTakenByCollector(std::string_view name) const;

  mutable std::mutex render_mu_;  // one scrape at a time; held across collector calls
  mutable std::mutex mu_;         // guards everything below
  std::map<std::string, OwnedFamily, std::less<>> owned_;
  std::map<CollectorId, Collector> collectors_;
  CollectorId next_collector_id_ = 1;
  mutable std::atomic<uint64_t> dropped_samples_{0};
};

// Exposed for tests and for other text endpoints.
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);
// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabelValue(std::string_view value);
// Formats a sample value: shortest round-trip decimal, NaN, +Inf, -Inf.
std::string FormatMetricValue(double value);

}  // namespace raftlog::broker
