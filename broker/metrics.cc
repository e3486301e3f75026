// MetricsRegistry: registration checks and the text-format 0.0.4 renderer.
// Every name reaching the page was validated at registration (owned series,
// collector families) or at sample time (collector label names).
#include "broker/metrics.h"

#include <charconv>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace raftlog::broker {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kUntyped:
      break;
  }
  return "untyped";
}

// HELP text escapes backslash and newline only (quotes stay as they are).
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

absl::Status ValidateLabels(std::string_view family, const MetricLabels& labels) {
  std::set<std::string_view> seen;
  for (const auto& [name, value] : labels) {
    if (!IsValidLabelName(name)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("metric %s: invalid label name \"%s\" (want [a-zA-Z_][a-zA-Z0-9_]*, "
                          "not starting with __)",
                          family, name));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("metric %s: label \"%s\" given twice", family, name));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFamilyName(std::string_view name) {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid metric name \"%s\" (want [a-zA-Z_:][a-zA-Z0-9_:]*)", name));
  }
  return absl::OkStatus();
}

// Appends `name{l1="v1",...} value\n`.
void AppendSampleLine(std::string& out, std::string_view name, const MetricLabels& labels,
                      std::string_view value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out += ',';
      out += labels[i].first;
      out += "=\"";
      out += EscapeLabelValue(labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

}  // namespace

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAsciiLetter(c) || c == '_' || c == ':' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = IsAsciiLetter(c) || c == '_' || (i > 0 && IsAsciiDigit(c));
    if (!ok) return false;
  }
  return true;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);  // shortest round-trip form
  return std::string(buf, result.ptr);
}

void MetricSampleSink::Add(std::string_view family, const MetricLabels& labels, double value) {
  auto it = families_->find(family);
  if (it == families_->end() || it->second.owner != collector_ ||
      !ValidateLabels(family, labels).ok()) {
    dropped_->fetch_add(1, std::memory_order_relaxed);
    return;
  }
  AppendSampleLine(it->second.lines, family, labels, FormatMetricValue(value));
}

bool MetricsRegistry::NameTakenByCollector(std::string_view name) const {
  for (const auto& [id, collector] : collectors_) {
    for (const MetricFamilyInfo& family : collector.families) {
      if (family.name == name) return true;
    }
  }
  return false;
}

absl::StatusOr<MetricsRegistry::SeriesHandle> MetricsRegistry::AddOwnedSeries(std::string_view name,
                                                                              std::string_view help,
                                                                              MetricType type,
                                                                              MetricLabels labels) {
  if (absl::Status s = ValidateFamilyName(name); !s.ok()) return s;
  if (absl::Status s = ValidateLabels(name, labels); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (NameTakenByCollector(name)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("metric %s is already emitted by a collector", name));
  }
  auto it = owned_.find(name);
  if (it == owned_.end()) {
    it = owned_.emplace(std::string(name), OwnedFamily{std::string(help), type, {}}).first;
  } else {
    OwnedFamily& family = it->second;
    if (family.type != type || family.help != help) {
      return absl::AlreadyExistsError(
          absl::StrFormat("metric %s is already registered as a %s with other help text or type",
                          name, TypeName(family.type)));
    }
    for (const OwnedSeries& series : family.series) {
      if (series.labels == labels) {
        return absl::AlreadyExistsError(
            absl::StrFormat("metric %s is already registered with these labels", name));
      }
    }
  }
  // The vector may reallocate, but the Counter/Gauge objects live on the heap.
  OwnedSeries& series = it->second.series.emplace_back();
  series.labels = std::move(labels);
  if (type == MetricType::kCounter) {
    series.counter = std::make_unique<Counter>();
  } else {
    series.gauge = std::make_unique<Gauge>();
  }
  return SeriesHandle{series.counter.get(), series.gauge.get()};
}

absl::StatusOr<Counter*> MetricsRegistry::AddCounter(std::string_view name, std::string_view help,
                                                     MetricLabels labels) {
  absl::StatusOr<SeriesHandle> series =
      AddOwnedSeries(name, help, MetricType::kCounter, std::move(labels));
  if (!series.ok()) return series.status();
  return series->counter;
}

absl::StatusOr<Gauge*> MetricsRegistry::AddGauge(std::string_view name, std::string_view help,
                                                 MetricLabels labels) {
  absl::StatusOr<SeriesHandle> series =
      AddOwnedSeries(name, help, MetricType::kGauge, std::move(labels));
  if (!series.ok()) return series.status();
  return series->gauge;
}

absl::StatusOr<MetricsRegistry::CollectorId> MetricsRegistry::AddCollector(
    std::vector<MetricFamilyInfo> families, CollectFn collect) {
  if (!collect) return absl::InvalidArgumentError("metrics collector: empty callback");
  std::set<std::string_view> names;
  for (const MetricFamilyInfo& family : families) {
    if (absl::Status s = ValidateFamilyName(family.name); !s.ok()) return s;
    if (!names.insert(family.name).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("metrics collector declares family %s twice", family.name));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const MetricFamilyInfo& family : families) {
    if (owned_.count(family.name) > 0 || NameTakenByCollector(family.name)) {
      return absl::AlreadyExistsError(
          absl::StrFormat("metric %s is already registered", family.name));
    }
  }
  CollectorId id = next_collector_id_++;
  collectors_.emplace(id, Collector{std::move(families), std::move(collect)});
  return id;
}

void MetricsRegistry::RemoveCollector(CollectorId id) {
  std::lock_guard<std::mutex> render_lock(render_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.erase(id);
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> render_lock(render_mu_);
  MetricSampleSink::FamilyMap families;
  // Collectors are erased only under render_mu_ (held) and std::map insertion
  // keeps other elements in place, so these pointers stay valid after mu_.
  std::vector<std::pair<CollectorId, const Collector*>> collectors;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, owned] : owned_) {
      MetricSampleSink::Family& family = families[name];
      family.help = owned.help;
      family.type = owned.type;
      for (const OwnedSeries& series : owned.series) {
        if (series.counter != nullptr) {
          AppendSampleLine(family.lines, name, series.labels,
                           absl::StrCat(series.counter->value()));
        } else if (series.gauge != nullptr) {
          AppendSampleLine(family.lines, name, series.labels,
                           FormatMetricValue(series.gauge->value()));
        }
      }
    }
    for (const auto& [id, collector] : collectors_) {
      for (const MetricFamilyInfo& info : collector.families) {
        MetricSampleSink::Family& family = families[info.name];
        family.help = info.help;
        family.type = info.type;
        family.owner = id;
      }
      collectors.emplace_back(id, &collector);
    }
  }
  for (const auto& [id, collector] : collectors) {
    MetricSampleSink sink(&families, id, &dropped_samples_);
    collector->collect(sink);
  }
  std::string page;
  for (const auto& [name, family] : families) {
    if (family.lines.empty()) continue;
    absl::StrAppend(&page, "# HELP ", name, " ", EscapeHelp(family.help), "\n# TYPE ", name, " ",
                    TypeName(family.type), "\n", family.lines);
  }
  return page;
}

}  // namespace raftlog::broker
