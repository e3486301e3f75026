// Empty unary gRPC calls over loopback for client_bench (grpc_round_trip.h).
#include "bench/client/grpc_round_trip.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "raftlog/node/v1/node.grpc.pb.h"

namespace raftlog::bench {
namespace {

namespace nodepb = raftlog::node::v1;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "client_bench: gRPC round trip: %s\n", what.c_str());
  std::exit(2);
}

// A server with one method that answers at once, on gRPC's callback API
// (as raftlogd's Produce and Fetch).
class AnswerAtOnce final : public nodepb::NodeAdmin::CallbackService {
  grpc::ServerUnaryReactor* Identity(grpc::CallbackServerContext* ctx,
                                     const nodepb::IdentityRequest*,
                                     nodepb::IdentityResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

grpc::Status CallOnce(nodepb::NodeAdmin::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  nodepb::IdentityResponse resp;
  return stub.Identity(&ctx, nodepb::IdentityRequest(), &resp);
}

}  // namespace

GrpcRoundTrip MeasureGrpcRoundTrip(int calls) {
  AnswerAtOnce service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) Die("no server on 127.0.0.1");
  auto stub = nodepb::NodeAdmin::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 200; ++i) {
    if (grpc::Status s = CallOnce(*stub); !s.ok()) Die(s.error_message());
  }
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(calls));
  for (int i = 0; i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (grpc::Status s = CallOnce(*stub); !s.ok()) Die(s.error_message());
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  server->Shutdown();
  std::sort(ms.begin(), ms.end());
  return GrpcRoundTrip{ms[ms.size() / 2], ms[ms.size() * 99 / 100]};
}

}  // namespace raftlog::bench
