// MetricsHttpServer: the poll() loop, the connection state machine
// (reading the head -> writing the answer -> draining until the peer closes)
// and the request-line parser. Bytes from the network are never trusted: the
// head is bounded in size and time, and anything unexpected gets a 4xx.
#include "broker/metrics_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <list>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace raftlog::broker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr absl::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
// How long a finished connection may linger while we read what the peer still
// sends (so that closing does not reset the connection before it read the answer).
constexpr std::chrono::milliseconds kDrainTimeout{500};
// Back-off when accept() fails for lack of descriptors, instead of spinning.
constexpr std::chrono::milliseconds kAcceptPause{100};

std::string ErrnoText(int err) { return std::error_code(err, std::generic_category()).message(); }

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { Reset(); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// RFC 9110 "tchar": the characters of a method or a header name.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

std::string Response(int code, absl::string_view reason, absl::string_view content_type,
                     absl::string_view body, bool include_body, absl::string_view extra_headers) {
  std::string out = absl::StrFormat(
      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n",
      code, reason, content_type, body.size(), extra_headers);
  if (include_body) out.append(body.data(), body.size());
  return out;
}

std::string PlainResponse(int code, absl::string_view reason, absl::string_view body,
                          bool include_body = true, absl::string_view extra_headers = "") {
  return Response(code, reason, "text/plain; charset=utf-8", body, include_body, extra_headers);
}

// Where the request head ends (index past the blank line), if it has ended.
// Bare LF line ends are accepted, as RFC 9112 allows.
std::optional<size_t> FindHeadEnd(absl::string_view data) {
  size_t crlf = data.find("\r\n\r\n");
  size_t lf = data.find("\n\n");
  size_t end = absl::string_view::npos;
  if (crlf != absl::string_view::npos) end = crlf + 4;
  if (lf != absl::string_view::npos) end = std::min(end, lf + 2);
  if (end == absl::string_view::npos) return std::nullopt;
  return end;
}

// The answer to one complete request head.
std::string Answer(absl::string_view head, const std::function<std::string()>& render) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  for (absl::string_view& line : lines) absl::ConsumeSuffix(&line, "\r");
  std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || !absl::StartsWith(parts[1], "/") ||
      (parts[2] != "HTTP/1.1" && parts[2] != "HTTP/1.0")) {
    return PlainResponse(400, "Bad Request", "bad request line\n");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;  // the blank line(s) ending the head
    size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos || !IsToken(lines[i].substr(0, colon))) {
      return PlainResponse(400, "Bad Request", "bad header line\n");
    }
  }
  for (char c : parts[1]) {
    if (c <= 0x20 || c >= 0x7f) return PlainResponse(400, "Bad Request", "bad request target\n");
  }
  absl::string_view method = parts[0];
  absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  bool is_metrics = path == "/metrics";
  bool is_health = path == "/healthz";
  if (!is_metrics && !is_health) return PlainResponse(404, "Not Found", "not found\n");
  bool head_only = method == "HEAD";
  if (method != "GET" && !head_only) {
    return PlainResponse(405, "Method Not Allowed", "method not allowed\n", true,
                         "Allow: GET, HEAD\r\n");
  }
  if (is_health) return PlainResponse(200, "OK", "ok\n", !head_only);
  return Response(200, "OK", kMetricsContentType, render(), !head_only, "");
}

struct Connection {
  enum class State { kReading, kWriting, kDraining };
  UniqueFd fd;
  State state = State::kReading;
  std::string in;
  std::string out;
  size_t sent = 0;
  Clock::time_point deadline;
  bool done = false;  // to be closed and removed
};

}  // namespace

absl::Status SplitHostPort(const std::string& host_port, std::string* host, int* port) {
  absl::string_view port_text;
  if (absl::StartsWith(host_port, "[")) {
    size_t close = host_port.find(']');
    if (close == std::string::npos || close + 1 >= host_port.size() ||
        host_port[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrFormat("bad listen address \"%s\": want [ipv6]:port", host_port));
    }
    *host = host_port.substr(1, close - 1);
    port_text = absl::string_view(host_port).substr(close + 2);
  } else {
    size_t colon = host_port.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("bad listen address \"%s\": want host:port", host_port));
    }
    *host = host_port.substr(0, colon);
    if (host->find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "bad listen address \"%s\": put an IPv6 address in brackets, [addr]:port", host_port));
    }
    port_text = absl::string_view(host_port).substr(colon + 1);
  }
  int value = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(port_text, &value) || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad listen address \"%s\": port must be 0..65535", host_port));
  }
  *port = value;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& host_port, std::function<std::string()> render, MetricsHttpOptions options) {
  if (!render) return absl::InvalidArgumentError("metrics http: empty render callback");
  if (options.max_connections < 1 || options.max_request_head_bytes < 64) {
    return absl::InvalidArgumentError(
        "metrics http: max_connections >= 1 and "
        "max_request_head_bytes >= 64 required");
  }
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(host_port, &host, &port); !s.ok()) return s;
  std::string cannot = absl::StrCat("cannot listen on ", host_port, ": ");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port_text = std::to_string(port);
  int gai = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &found);
  if (gai != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(cannot, "cannot resolve \"", host, "\": ", ::gai_strerror(gai)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  UniqueFd listener;
  int last_errno = EADDRNOTAVAIL;
  for (addrinfo* ai = addresses.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        ::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 64) != 0) {
      last_errno = errno;
      continue;
    }
    listener = std::move(fd);
    break;
  }
  if (listener.get() < 0) return absl::UnavailableError(cannot + ErrnoText(last_errno));

  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return absl::InternalError(cannot + "getsockname: " + ErrnoText(errno));
  }
  int bound_port = bound.ss_family == AF_INET6
                       ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  UniqueFd stop(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (stop.get() < 0) return absl::InternalError(cannot + "eventfd: " + ErrnoText(errno));

  return std::make_unique<MetricsHttpServer>(PassKey(), listener.Release(), stop.Release(),
                                             bound_port, std::move(render), options);
}

MetricsHttpServer::MetricsHttpServer(PassKey, int listen_fd, int stop_fd, int port,
                                     std::function<std::string()> render,
                                     MetricsHttpOptions options)
    : listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      port_(port),
      render_(std::move(render)),
      options_(options),
      thread_([this] { Run(); }) {}

MetricsHttpServer::~MetricsHttpServer() {
  uint64_t one = 1;
  // An eventfd write only fails if the counter would overflow; it is then readable anyway.
  [[maybe_unused]] ssize_t n = ::write(stop_fd_, &one, sizeof(one));
  thread_.join();
  ::close(listen_fd_);
  ::close(stop_fd_);
}

void MetricsHttpServer::Run() {
  std::list<Connection> connections;
  Clock::time_point accept_paused_until{};
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;  // fds[i + 2] belongs to polled[i]

  while (true) {
    Clock::time_point now = Clock::now();
    bool accepting = static_cast<int>(connections.size()) < options_.max_connections &&
                     now >= accept_paused_until;
    fds.clear();
    polled.clear();
    fds.push_back({stop_fd_, POLLIN, 0});
    fds.push_back({accepting ? listen_fd_ : -1, POLLIN, 0});  // fd -1: ignored by poll
    Clock::time_point wake = now + std::chrono::seconds(60);
    if (!accepting && connections.size() < static_cast<size_t>(options_.max_connections)) {
      wake = std::min(wake, accept_paused_until);
    }
    for (Connection& c : connections) {
      short events = c.state == Connection::State::kWriting ? POLLOUT : POLLIN;
      fds.push_back({c.fd.get(), events, 0});
      polled.push_back(&c);
      wake = std::min(wake, c.deadline);
    }
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now);
    int timeout_ms = static_cast<int>(std::max<int64_t>(0, wait.count()));
    int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      // Only EFAULT/EINVAL/ENOMEM: nothing to serve reliably; wait for stop.
      pollfd stop_only{stop_fd_, POLLIN, 0};
      ::poll(&stop_only, 1, -1);
      return;
    }
    if (ready > 0 && fds[0].revents != 0) return;  // stop requested
    now = Clock::now();

    if (ready > 0 && fds[1].revents != 0) {
      while (static_cast<int>(connections.size()) < options_.max_connections) {
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_paused_until = now + kAcceptPause;
          }
          break;  // EAGAIN: drained; ECONNABORTED, EINTR...: try next round
        }
        Connection& c = connections.emplace_back();
        c.fd = UniqueFd(fd);
        c.deadline = now + options_.request_timeout;
      }
    }

    for (size_t i = 0; ready > 0 && i < polled.size(); ++i) {
      short revents = fds[i + 2].revents;
      if (revents == 0) continue;
      Connection& c = *polled[i];
      if (c.state == Connection::State::kReading || c.state == Connection::State::kDraining) {
        char buf[4096];
        ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          c.done = true;  // peer closed (or failed) before or after its answer
          continue;
        }
        if (n < 0 || c.state == Connection::State::kDraining) continue;
        c.in.append(buf, static_cast<size_t>(n));
        std::optional<size_t> end = FindHeadEnd(c.in);
        if (end.has_value() && *end <= options_.max_request_head_bytes) {
          c.out = Answer(absl::string_view(c.in).substr(0, *end), render_);
        } else if (c.in.size() > options_.max_request_head_bytes) {
          c.out = PlainResponse(431, "Request Header Fields Too Large", "request head too large\n");
        } else {
          continue;  // need more bytes
        }
        c.in.clear();
        c.state = Connection::State::kWriting;
        c.deadline = Clock::now() + options_.response_timeout;
        // Fall through to write now: the socket is almost always writable.
      }
      if (c.state == Connection::State::kWriting) {
        while (c.sent < c.out.size()) {
          ssize_t n =
              ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
          if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c.done = true;
            break;
          }
          c.sent += static_cast<size_t>(n);
        }
        if (!c.done && c.sent == c.out.size()) {
          ::shutdown(c.fd.get(), SHUT_WR);
          c.out.clear();
          c.state = Connection::State::kDraining;
          c.deadline = Clock::now() + kDrainTimeout;
        }
      }
    }

    now = Clock::now();
    connections.remove_if([now](const Connection& c) { return c.done || now >= c.deadline; });
  }
}

}  // namespace raftlog::broker
