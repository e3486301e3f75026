// Tests of EncodeProduceRequest: the bytes parse as the same ProduceRequest,
// and the batches are sent from the producer's own slices, not copied.
#include "client/producer_request_encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "proto/byte_buffer_test_util.h"

namespace raftlog::client {
namespace {

namespace apipb = raftlog::api::v1;

apipb::ProduceRequest Fields() {
  apipb::ProduceRequest r;
  r.set_topic("orders");
  r.set_partition(5);
  r.set_acks(apipb::ACKS_ALL);
  r.set_timeout_ms(3000);
  return r;
}

TEST(ProducerRequestEncoderTest, ParsesAsTheSameRequest) {
  std::vector<grpc::Slice> batches;
  apipb::ProduceRequest want = Fields();
  for (size_t size : {61u, 1000u, 70000u}) {
    std::vector<uint8_t> b(size);
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(i * 7 + size);
    want.add_batches(std::string(b.begin(), b.end()));
    batches.push_back(SliceOwning(std::move(b)));
  }
  std::vector<grpc::Slice> slices;
  const std::string wire =
      proto::FlattenByteBuffer(EncodeProduceRequest(Fields(), batches), &slices);
  EXPECT_EQ(wire.size(), want.ByteSizeLong());
  apipb::ProduceRequest got;
  ASSERT_TRUE(got.ParseFromString(wire));
  EXPECT_EQ(got.SerializeAsString(), want.SerializeAsString());
}

TEST(ProducerRequestEncoderTest, BatchesAreSentFromTheirOwnSlices) {
  std::vector<uint8_t> bytes(5000, 0xab);
  const uint8_t* data = bytes.data();
  const grpc::Slice batch = SliceOwning(std::move(bytes));
  EXPECT_EQ(batch.begin(), data);  // the builder's buffer, moved in
  // A retry sends the same slice again: both requests reference it.
  const grpc::ByteBuffer first = EncodeProduceRequest(Fields(), {batch});
  const grpc::ByteBuffer retry = EncodeProduceRequest(Fields(), {batch});
  for (const grpc::ByteBuffer* bb : {&first, &retry}) {
    std::vector<grpc::Slice> slices;
    proto::FlattenByteBuffer(*bb, &slices);
    EXPECT_TRUE(std::any_of(slices.begin(), slices.end(),
                            [&](const grpc::Slice& s) { return s.begin() == data; }));
  }
}

TEST(ProducerRequestEncoderTest, NoBatches) {
  std::vector<grpc::Slice> slices;
  apipb::ProduceRequest got;
  ASSERT_TRUE(
      got.ParseFromString(proto::FlattenByteBuffer(EncodeProduceRequest(Fields(), {}), &slices)));
  EXPECT_EQ(got.SerializeAsString(), Fields().SerializeAsString());
}

}  // namespace
}  // namespace raftlog::client
