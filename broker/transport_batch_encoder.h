// Transport batch encoder: the wire bytes of a transport MessageBatch whose
// large entry payloads are sent as gRPC slices referencing the entry's
// shared raft::Payload, not copied.
//
// An append of a produced batch carries it as one raft entry per follower.
// Serialized by protobuf, each payload is copied once more into gRPC's send
// slices (fresh memory the kernel must fault in) before the socket copy.
// Here the small fields are serialized by protobuf as usual and every entry
// `data` of at least kMinSliceBytes becomes a slice over the payload's bytes
// that holds a reference to it (a heap-held shared_ptr, dropped by the
// slice's destroy hook once gRPC has sent it, possibly on a gRPC thread: the
// bytes are immutable and the count atomic). An OutgoingBatch
// (transport_codec.h) carries these payloads beside the records, so from the
// raft log to the socket no payload byte is copied; a plain MessageBatch's
// large strings are moved into payloads first (the same approach as
// fetch_response_encoder.h for Fetch answers).
//
// Wire format: a valid MessageBatch that any protobuf parser reads as the
// same message. It differs from protobuf's own bytes only in field order:
// a batch's `messages` (4) come after its heartbeat records (5, 6), and in a
// RaftMessage with such an entry the `entries` (6) come after its other
// fields; parsers accept fields in any order and keep the order of the
// elements of each repeated field.
#pragma once

#include <cstddef>

#include "broker/transport_codec.h"
#include "grpcpp/support/byte_buffer.h"
#include "raftlog/transport/v1/transport.pb.h"

namespace raftlog::broker {

// Entry payloads this large or larger travel as their own slice; smaller
// ones are copied with the fields around them (a slice costs more than
// copying a few hundred bytes).
inline constexpr size_t kMinSliceBytes = 1024;

// Encodes `*batch` for the wire, moving the large entry payloads out of it
// (what is left of it is only fit to be destroyed or cleared).
grpc::ByteBuffer EncodeMessageBatch(raftlog::transport::v1::MessageBatch* batch);

// Encodes `*out` for the wire: its records, with each deferred payload
// written in its entry's `data` field as a slice sharing the payload (what
// is left of `*out` is only fit to be destroyed or cleared).
grpc::ByteBuffer EncodeMessageBatch(OutgoingBatch* out);

}  // namespace raftlog::broker
