// Linearizability checker: per-key depth-first search over linearization
// orders with memoization of (linearized set, register value). See the header
// for the interpretation rules. The search is iterative (no recursion depth
// limit) and bounded by LinearizabilityOptions::max_steps_per_key.
#include "tests/sim/linearizability.h"

#include <algorithm>
#include <map>
#include <unordered_set>
#include <utility>

namespace raftlog::sim {
namespace {

constexpr int kAbsent = -1;

// One operation of a single key's sub-history, values interned to ints.
struct KeyOp {
  const KvOp* src = nullptr;
  int64_t invoke = 0;
  int64_t complete = 0;
  KvOpKind kind = KvOpKind::kPut;
  int value = kAbsent;     // put / cas new value
  int expected = kAbsent;  // cas
  int read = kAbsent;      // get
  CasOutcome cas = CasOutcome::kUnknown;
  bool pending = false;  // never completed
  // A pending put of a value no operation ever mentions: all such puts have
  // the same effect (the register holds something nobody reads or expects),
  // so the search tries only the earliest-invoked one not yet placed.
  bool junk = false;
};

// Memo key: linearized bitset plus register value.
struct MemoKey {
  std::vector<uint64_t> bits;
  int state = kAbsent;
  bool operator==(const MemoKey& o) const { return state == o.state && bits == o.bits; }
};
struct MemoHash {
  size_t operator()(const MemoKey& k) const {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(k.state + 7);
    for (uint64_t w : k.bits) {
      h ^= w + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return static_cast<size_t>(h);
  }
};

std::string Quote(const std::optional<std::string>& v) {
  return v.has_value() ? *v : std::string("absent");
}

// Applies op to state. branch selects the outcome of a cas whose outcome is
// unknown (0 = swapped, 1 = not swapped). Returns the new state, or nullopt if
// the op's observed output is impossible from `state`.
std::optional<int> ApplyOp(const KeyOp& op, int state, int branch) {
  switch (op.kind) {
    case KvOpKind::kPut:
      return op.value;
    case KvOpKind::kGet:
      if (op.read != state) return std::nullopt;
      return state;
    case KvOpKind::kCas: {
      CasOutcome outcome = op.cas;
      if (outcome == CasOutcome::kUnknown) {
        outcome = branch == 0 ? CasOutcome::kSwapped : CasOutcome::kNotSwapped;
      }
      if (outcome == CasOutcome::kSwapped) {
        if (state != op.expected) return std::nullopt;
        return op.value;
      }
      if (state == op.expected) return std::nullopt;
      return state;
    }
  }
  return std::nullopt;
}

class KeyChecker {
 public:
  KeyChecker(std::string key, std::vector<KeyOp> ops, std::vector<std::string> names,
             int64_t max_steps)
      : key_(std::move(key)),
        ops_(std::move(ops)),
        names_(std::move(names)),
        max_steps_(max_steps),
        words_((ops_.size() + 63) / 64) {
    for (int j = 0; j < static_cast<int>(ops_.size()); ++j) {
      if (ops_[j].junk) junk_order_.push_back(j);  // ops_ is sorted by invocation
    }
  }

  // Depth-first search. Pending puts (never completed) are never tried on
  // their own: one only matters if a reader observes it, so it is tried
  // immediately before a reader (get, cas) as a pair; otherwise it can sit
  // at the end of time. (Given a valid order, moving a pending put later, to
  // just before the next reader, or to the end if a put overwrites it first,
  // keeps it valid: its completion is infinite.)
  LinearizabilityVerdict Run() {
    const int n = static_cast<int>(ops_.size());
    std::vector<int> pending_puts;  // sorted by invocation
    int pending_total = 0;
    for (int j = 0; j < n; ++j) {
      if (ops_[j].pending) ++pending_total;
      if (ops_[j].pending && ops_[j].kind == KvOpKind::kPut) pending_puts.push_back(j);
    }
    const int64_t m = static_cast<int64_t>(pending_puts.size());
    const int64_t per_op = 2 * (m + 1);  // (no pending put or one of m) x branch
    const int64_t cursor_end = per_op * n;
    std::vector<uint64_t> bits(words_, 0);
    int state = kAbsent;
    int placed = 0;
    int placed_pending = 0;
    struct Step {
      int op;
      int put;  // pending put placed just before op, or -1
      int prev_state;
      int64_t cursor;
    };
    std::vector<Step> path;
    std::unordered_set<MemoKey, MemoHash> memo;
    int64_t start = 0;
    for (;;) {
      // Everything left never completed: place it at the end of time.
      if (n - placed == pending_total - placed_pending) {
        return LinearizabilityVerdict::kLinearizable;
      }
      int64_t min_ret = KvOp::kNeverCompleted;
      for (int j = 0; j < n; ++j) {
        if (!Test(bits, j)) min_ret = std::min(min_ret, ops_[j].complete);
      }
      bool advanced = false;
      for (int64_t c = start; c < cursor_end; ++c) {
        const int j = static_cast<int>(c / per_op);
        const int pi = static_cast<int>((c % per_op) / 2) - 1;
        const int branch = static_cast<int>(c % 2);
        const KeyOp& op = ops_[j];
        if (op.invoke > min_ret) break;  // sorted by invocation
        if (Test(bits, j) || (op.pending && op.kind == KvOpKind::kPut)) {
          c = (j + 1) * per_op - 1;
          continue;
        }
        if (branch == 1 && !(op.kind == KvOpKind::kCas && op.cas == CasOutcome::kUnknown)) continue;
        int from = state;
        int put = -1;
        if (pi >= 0) {
          put = pending_puts[pi];
          const KeyOp& p = ops_[put];
          if (p.invoke > min_ret) {
            c = (j + 1) * per_op - 1;
            continue;
          }
          if (Test(bits, put) || p.value == state) continue;
          if (p.junk && put != FirstUnplacedJunk(bits)) continue;
          from = p.value;
        }
        if (++steps_ > max_steps_) return LinearizabilityVerdict::kUnknown;
        std::optional<int> next = ApplyOp(op, from, branch);
        if (!next.has_value()) continue;
        Set(bits, j);
        if (put >= 0) Set(bits, put);
        if (!memo.insert(MemoKey{bits, *next}).second) {
          Clear(bits, j);
          if (put >= 0) Clear(bits, put);
          continue;
        }
        path.push_back(Step{j, put, state, c});
        state = *next;
        placed += put >= 0 ? 2 : 1;
        placed_pending += (op.pending ? 1 : 0) + (put >= 0 ? 1 : 0);
        start = 0;
        advanced = true;
        break;
      }
      if (advanced) continue;
      // Dead end. Remember the deepest one for the explanation.
      if (placed >= best_depth_) {
        best_depth_ = placed;
        best_path_.clear();
        for (const Step& st : path) {
          if (st.put >= 0) best_path_.push_back(st.put);
          best_path_.push_back(st.op);
        }
        best_bits_ = bits;
        best_state_ = state;
      }
      if (path.empty()) return LinearizabilityVerdict::kNotLinearizable;
      const Step last = path.back();
      path.pop_back();
      Clear(bits, last.op);
      placed -= 1;
      placed_pending -= ops_[last.op].pending ? 1 : 0;
      if (last.put >= 0) {
        Clear(bits, last.put);
        placed -= 1;
        placed_pending -= 1;
      }
      state = last.prev_state;
      start = last.cursor + 1;
    }
  }

  std::string Explain() const {
    const int n = static_cast<int>(ops_.size());
    std::string out = "key \"" + key_ + "\": no linearization of its " + std::to_string(n) +
                      " operations. Longest legal prefix has " + std::to_string(best_depth_) +
                      " operations";
    constexpr int kShow = 8;
    const int first = std::max(0, best_depth_ - kShow);
    out += first > 0 ? " (last " + std::to_string(kShow) + " shown):\n" : ":\n";
    for (int i = first; i < best_depth_; ++i) {
      out += "    " + ops_[best_path_[i]].src->Describe() + "\n";
    }
    out += "  the register then holds " + Name(best_state_) +
           ", and no other operation can come next:\n";
    int64_t min_ret = KvOp::kNeverCompleted;
    int blocker = -1;
    for (int j = 0; j < n; ++j) {
      if (!Test(best_bits_, j) && ops_[j].complete < min_ret) {
        min_ret = ops_[j].complete;
        blocker = j;
      }
    }
    int shown = 0;
    for (int j = 0; j < n && shown < kShow; ++j) {
      if (Test(best_bits_, j) || ops_[j].invoke > min_ret) continue;
      const KeyOp& op = ops_[j];
      ++shown;
      out += "    " + op.src->Describe() + ": ";
      if (op.kind == KvOpKind::kGet && op.read != best_state_) {
        out += "reads " + Name(op.read) + " but the register holds " + Name(best_state_);
      } else if (op.kind == KvOpKind::kCas && !ApplyOp(op, best_state_, 0) &&
                 !ApplyOp(op, best_state_, 1)) {
        out += "its outcome is impossible when the register holds " + Name(best_state_);
      } else {
        out += "legal here, but every continuation fails later";
      }
      out += "\n";
    }
    if (blocker >= 0) {
      out += "  (operations invoked after " + std::to_string(min_ret) + " must follow " +
             ops_[blocker].src->Describe() + " in real time)\n";
    }
    return out;
  }

  int64_t steps() const { return steps_; }

 private:
  bool Test(const std::vector<uint64_t>& b, int j) const { return (b[j / 64] >> (j % 64)) & 1U; }
  int FirstUnplacedJunk(const std::vector<uint64_t>& b) const {
    for (int j : junk_order_) {
      if (!Test(b, j)) return j;
    }
    return -1;
  }
  static void Set(std::vector<uint64_t>& b, int j) { b[j / 64] |= uint64_t{1} << (j % 64); }
  static void Clear(std::vector<uint64_t>& b, int j) { b[j / 64] &= ~(uint64_t{1} << (j % 64)); }
  std::string Name(int v) const { return v == kAbsent ? "absent" : "\"" + names_[v] + "\""; }

  std::string key_;
  std::vector<KeyOp> ops_;
  std::vector<std::string> names_;
  int64_t max_steps_;
  size_t words_;
  std::vector<int> junk_order_;
  int64_t steps_ = 0;
  int best_depth_ = -1;
  std::vector<int> best_path_;
  std::vector<uint64_t> best_bits_;
  int best_state_ = kAbsent;
};

// Builds one key's sub-history: interns values, drops operations that cannot
// affect the verdict, sorts by invocation.
KeyChecker BuildKey(const std::string& key, const std::vector<const KvOp*>& src,
                    int64_t max_steps) {
  std::map<std::string, int> ids;
  std::vector<std::string> names;
  auto intern = [&](const std::optional<std::string>& v) {
    if (!v.has_value()) return kAbsent;
    auto [it, inserted] = ids.emplace(*v, static_cast<int>(names.size()));
    if (inserted) names.push_back(*v);
    return it->second;
  };
  // Values some operation observes (a completed read, any cas's expected
  // value), and whether a completed cas failed (a failed cas observes
  // "not v", which any write might explain).
  std::unordered_set<std::string> observed;
  bool any_failed_cas = false;
  for (const KvOp* op : src) {
    if (op->kind == KvOpKind::kCas && op->expected.has_value()) observed.insert(*op->expected);
    if (!op->completed()) continue;
    if (op->kind == KvOpKind::kGet && op->read.has_value()) observed.insert(*op->read);
    if (op->kind == KvOpKind::kCas && op->cas_outcome != CasOutcome::kSwapped) {
      any_failed_cas = true;
    }
  }
  // All unobserved values written by pending puts share one id.
  const std::string kJunk = std::string("\x1funobserved");
  std::vector<KeyOp> ops;
  for (const KvOp* op : src) {
    const bool pending = !op->completed();
    if (pending && op->kind == KvOpKind::kGet) continue;
    // A pending write nobody observed can be placed at the end of time, where
    // it changes nothing, unless a failed cas might need it.
    const bool unobserved = pending && op->kind == KvOpKind::kPut && observed.count(op->value) == 0;
    if (unobserved && !any_failed_cas) continue;
    KeyOp k;
    k.src = op;
    k.invoke = op->invoke;
    k.complete = op->complete;
    k.kind = op->kind;
    k.pending = pending;
    k.junk = unobserved;
    k.value = op->kind == KvOpKind::kGet ? kAbsent : intern(unobserved ? kJunk : op->value);
    k.expected = op->kind == KvOpKind::kCas ? intern(op->expected) : kAbsent;
    k.read = op->kind == KvOpKind::kGet ? intern(op->read) : kAbsent;
    k.cas = pending ? CasOutcome::kUnknown : op->cas_outcome;
    ops.push_back(k);
  }
  std::stable_sort(ops.begin(), ops.end(),
                   [](const KeyOp& a, const KeyOp& b) { return a.invoke < b.invoke; });
  return KeyChecker(key, std::move(ops), std::move(names), max_steps);
}

}  // namespace

std::string KvOp::Describe() const {
  std::string s = "c" + std::to_string(client) + " ";
  switch (kind) {
    case KvOpKind::kPut:
      s += "put(" + key + ", " + value + ")";
      break;
    case KvOpKind::kGet:
      s += "get(" + key + ")";
      if (completed()) s += " -> " + Quote(read);
      break;
    case KvOpKind::kCas:
      s += "cas(" + key + ", " + Quote(expected) + " -> " + value + ")";
      if (completed()) {
        s += cas_outcome == CasOutcome::kSwapped      ? " swapped"
             : cas_outcome == CasOutcome::kNotSwapped ? " not swapped"
                                                      : " outcome unknown";
      }
      break;
  }
  s += " [" + std::to_string(invoke) + ", " + (completed() ? std::to_string(complete) : "?") + "]";
  return s;
}

KvOp MakePut(int client, std::string key, std::string value, int64_t invoke, int64_t complete) {
  KvOp op;
  op.client = client;
  op.kind = KvOpKind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

KvOp MakeGet(int client, std::string key, std::optional<std::string> read, int64_t invoke,
             int64_t complete) {
  KvOp op;
  op.client = client;
  op.kind = KvOpKind::kGet;
  op.key = std::move(key);
  op.read = std::move(read);
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

KvOp MakeCas(int client, std::string key, std::optional<std::string> expected, std::string value,
             CasOutcome outcome, int64_t invoke, int64_t complete) {
  KvOp op;
  op.client = client;
  op.kind = KvOpKind::kCas;
  op.key = std::move(key);
  op.expected = std::move(expected);
  op.value = std::move(value);
  op.cas_outcome = outcome;
  op.invoke = invoke;
  op.complete = complete;
  return op;
}

const char* VerdictName(LinearizabilityVerdict v) {
  switch (v) {
    case LinearizabilityVerdict::kLinearizable:
      return "linearizable";
    case LinearizabilityVerdict::kNotLinearizable:
      return "NOT linearizable";
    case LinearizabilityVerdict::kUnknown:
      return "unknown (search budget exhausted)";
  }
  return "?";
}

LinearizabilityResult CheckKvLinearizable(const std::vector<KvOp>& history,
                                          const LinearizabilityOptions& options) {
  std::map<std::string, std::vector<const KvOp*>> by_key;
  for (const KvOp& op : history) by_key[op.key].push_back(&op);
  LinearizabilityResult result;
  std::string unknown_keys;
  for (const auto& [key, ops] : by_key) {
    KeyChecker checker = BuildKey(key, ops, options.max_steps_per_key);
    const LinearizabilityVerdict v = checker.Run();
    result.steps += checker.steps();
    if (v == LinearizabilityVerdict::kNotLinearizable) {
      result.verdict = v;
      result.explanation = checker.Explain();
      return result;
    }
    if (v == LinearizabilityVerdict::kUnknown) {
      result.verdict = v;
      unknown_keys += (unknown_keys.empty() ? "" : ", ") + key;
    }
  }
  if (result.verdict == LinearizabilityVerdict::kUnknown) {
    result.explanation = "search budget exhausted for key(s): " + unknown_keys;
  }
  return result;
}

}  // namespace raftlog::sim
