// MetricsHttpServer: a minimal HTTP/1.1 server for Prometheus scrapes.
//
//   GET /metrics  -> 200, text/plain; version=0.0.4; charset=utf-8, body = render()
//   GET /healthz  -> 200, "ok\n"
//   other paths   -> 404; other methods -> 405 (HEAD is served like GET, no body);
//   malformed     -> 400; request head over the size limit -> 431.
// Every response carries Content-Length and `Connection: close`; one request
// per connection.
//
// Invariants:
//  - One thread, one poll() loop over the listening socket, a stop eventfd and
//    at most `max_connections` non-blocking connections; a slow or silent
//    client holds only its own slot and is dropped when its deadline passes,
//    so it never stalls other scrapes.
//  - Every connection has a deadline (request_timeout to receive the head,
//    then response_timeout to take the answer); nothing blocks past it.
//  - The destructor wakes the loop, closes every socket and joins the thread;
//    it returns promptly even with idle connections open.
//  - render() runs on the server thread, one call per /metrics request.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace raftlog::broker {

struct MetricsHttpOptions {
  std::chrono::milliseconds request_timeout{2000};    // to receive the request head
  std::chrono::milliseconds response_timeout{10000};  // to send the response
  size_t max_request_head_bytes = 8192;
  int max_connections = 16;  // further clients wait in the listen backlog
};

class MetricsHttpServer {
  struct PassKey {};  // only Start() constructs

 public:
  // Listens on `host_port`: "127.0.0.1:9100", "[::1]:9100", "0.0.0.0:0" (port 0:
  // the OS picks, see port()), "localhost:9100", ":9100" (all interfaces).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& host_port, std::function<std::string()> render,
      MetricsHttpOptions options = {});

  MetricsHttpServer(PassKey, int listen_fd, int stop_fd, int port,
                    std::function<std::string()> render, MetricsHttpOptions options);
  ~MetricsHttpServer();  // stops and joins
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The bound port (the OS's choice when started with port 0).
  int port() const { return port_; }

 private:
  void Run();

  const int listen_fd_;
  const int stop_fd_;  // eventfd; written by the destructor
  const int port_;
  const std::function<std::string()> render_;
  const MetricsHttpOptions options_;
  std::thread thread_;
};

// Splits "host:port" / "[v6]:port" / ":port"; exposed for tests.
absl::Status SplitHostPort(const std::string& host_port, std::string* host, int* port);

}  // namespace raftlog::broker
