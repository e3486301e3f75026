// Helpers for raft/ unit tests: building entries and single RawNodes over a
// MemoryStorage prepared with a given log and hard state.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "raft/log_storage.h"
#include "raft/raw_node.h"
#include "raft/testing/network.h"
#include "raft/types.h"

namespace raftlog::raft::testing {

inline Entry E(uint64_t term, uint64_t index, std::string data = "") {
  return Entry{Term(term), LogIndex(index), EntryType::kNormal, std::move(data)};
}

// Entries index from..to (inclusive) all of `term`.
inline std::vector<Entry> Ents(uint64_t term, uint64_t from, uint64_t to) {
  std::vector<Entry> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back(E(term, i));
  return out;
}

struct Solo {
  std::unique_ptr<MemoryStorage> storage = std::make_unique<MemoryStorage>();
  std::unique_ptr<RawNode> node;
};

// A node `id` over a storage holding `log`, hard state `hs`, voters `cs`.
inline Solo MakeSolo(uint64_t id, const ConfState& cs, const std::vector<Entry>& log, HardState hs,
                     Network::Tweak tweak = nullptr) {
  Solo s;
  s.storage->SetConfState(cs);
  EXPECT_TRUE(s.storage->Append(log).ok());
  s.storage->SetHardState(hs);
  Config c = TestConfig(NodeId(id));
  if (tweak) tweak(c);
  auto n = RawNode::Create(c, s.storage.get());
  EXPECT_TRUE(n.ok()) << n.status();
  s.node = std::move(*n);
  return s;
}

// Handles a Ready as the contract says and returns it for inspection.
inline Ready Persist(Solo& s) {
  Ready rd = s.node->GetReady();
  if (rd.snapshot) {
    EXPECT_TRUE(s.storage->ApplySnapshot(*rd.snapshot).ok());
  }
  EXPECT_TRUE(s.storage->Append(rd.entries).ok());
  if (rd.hard_state) s.storage->SetHardState(*rd.hard_state);
  s.node->Advance(rd);
  return rd;
}

inline Message Msg(MessageType t, uint64_t from, uint64_t to, uint64_t term) {
  Message m;
  m.type = t;
  m.from = NodeId(from);
  m.to = NodeId(to);
  m.term = Term(term);
  return m;
}

inline Message App(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
                   uint64_t prev_term, std::vector<Entry> ents, uint64_t commit) {
  Message m = Msg(MessageType::kApp, from, to, term);
  m.index = LogIndex(prev_index);
  m.log_term = Term(prev_term);
  m.entries = std::move(ents);
  m.commit = LogIndex(commit);
  return m;
}

// All messages of a Ready, of type t (both queues).
inline std::vector<Message> OfType(const Ready& rd, MessageType t) {
  std::vector<Message> out;
  for (const auto* q : {&rd.messages, &rd.messages_after_persist}) {
    for (const Message& m : *q) {
      if (m.type == t) out.push_back(m);
    }
  }
  return out;
}

inline std::vector<Message> Delivered(const Network& net, MessageType t, uint64_t from,
                                      uint64_t to) {
  std::vector<Message> out;
  for (const Message& m : net.delivered()) {
    if (m.type == t && m.from == NodeId(from) && m.to == NodeId(to)) out.push_back(m);
  }
  return out;
}

// Application data entries applied by node `id`.
inline std::vector<std::string> AppliedData(Network& net, uint64_t id) {
  std::vector<std::string> out;
  for (const Entry& e : net.peer(id).applied) {
    if (e.type == EntryType::kNormal) out.push_back(e.data.ToString());
  }
  return out;
}

}  // namespace raftlog::raft::testing
