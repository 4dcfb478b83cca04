// asio_echo: the C++ Asio (standalone, namespace asio) echo server that
// runbench compares as the peers cxxasio@epoll and cxxasio@iouring. It takes
// the same command line and speaks the same protocol as cmd/echoserver:
//
//   asio_echo [-impl NAME] -addr HOST:PORT [-contexts N]
//   asio_echo -probe      # construct an io_context and exit: 0 if the backend works
//
// It prints the address it listens on as the first line of stdout, then
// serves until SIGTERM or SIGINT; on SIGUSR1 it returns freed heap memory to
// the OS (malloc_trim) and prints "freed", as the Go servers do after their
// forced GC. -impl, -cpuprofile and -memprofile are accepted and ignored.
//
// The server is written the way Asio's documentation shows an echo server:
// one io_context per -contexts (concurrency hint 1), each run by one thread
// (the first by the main thread); one acceptor on the first, whose accepted
// sockets go to the contexts round robin; per connection a 64 KiB buffer
// (the Go servers' readBufSize) and the loop async_read_some -> async_write
// of what was read -> async_read_some. TCP_NODELAY is set on every accepted
// socket, like the Go servers.
//
// Built by runbench with g++ -O2 -pthread; the io_uring build adds
// -DASIO_HAS_IO_URING -DASIO_DISABLE_EPOLL and links -luring, which makes
// io_uring the backend of every socket and of the scheduler.

#include <asio.hpp>

// The io_uring build must really run on io_uring: Asio before 1.21 knows
// neither macro and would fall back to select() with epoll disabled.
#if defined(ASIO_HAS_IO_URING) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#error "ASIO_HAS_IO_URING is set but io_uring is not Asio's default backend (Asio >= 1.21 and ASIO_DISABLE_EPOLL needed)"
#endif
#if defined(__linux__) && !defined(ASIO_HAS_IO_URING) && !defined(ASIO_HAS_EPOLL)
#error "the epoll build does not use epoll"
#endif

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using asio::ip::tcp;

constexpr std::size_t kBufSize = 64 << 10;

// conn is one connection. Exactly one operation of it is pending at any
// time, so the chain of handlers owns it: the handler that sees an error
// deletes it.
class conn {
 public:
  explicit conn(tcp::socket s) : sock_(std::move(s)) {}

  void read() {
    sock_.async_read_some(asio::buffer(buf_, kBufSize),
                          [this](const std::error_code& ec, std::size_t n) {
                            if (ec) {
                              delete this;
                              return;
                            }
                            write(n);
                          });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(sock_, asio::buffer(buf_, n),
                      [this](const std::error_code& ec, std::size_t) {
                        if (ec) {
                          delete this;
                          return;
                        }
                        read();
                      });
  }

  tcp::socket sock_;
  char buf_[kBufSize];  // not initialised: only the pages read into become resident
};

class server {
 public:
  server(std::vector<std::unique_ptr<asio::io_context>>& ctxs, const tcp::endpoint& ep)
      : ctxs_(ctxs), acc_(*ctxs[0], ep), retry_(*ctxs[0]) {}

  tcp::endpoint local() const { return acc_.local_endpoint(); }

  void accept() {
    asio::io_context& target = *ctxs_[next_];
    next_ = (next_ + 1) % ctxs_.size();
    acc_.async_accept(target, [this](const std::error_code& ec, tcp::socket s) {
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        // EMFILE and the like: back off instead of spinning.
        std::fprintf(stderr, "cxxasio accept: %s\n", ec.message().c_str());
        retry_.expires_after(std::chrono::milliseconds(10));
        retry_.async_wait([this](const std::error_code&) { accept(); });
        return;
      }
      std::error_code ignored;
      s.set_option(tcp::no_delay(true), ignored);
      (new conn(std::move(s)))->read();
      accept();
    });
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>>& ctxs_;
  std::size_t next_ = 0;  // only the accept handler touches it
  tcp::acceptor acc_;
  asio::steady_timer retry_;
};

void on_signal(asio::signal_set& sigs) {
  sigs.async_wait([&sigs](const std::error_code& ec, int signo) {
    if (ec) return;
    if (signo != SIGUSR1) {
      std::fflush(stdout);
      ::_exit(0);
    }
    ::malloc_trim(0);
    std::fputs("freed\n", stdout);
    std::fflush(stdout);
    on_signal(sigs);
  });
}

// raise_nofile lifts RLIMIT_NOFILE as far as allowed: the idle scenario
// holds 10,000 connections.
void raise_nofile() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  rlimit want = lim;
  if (want.rlim_max < (1u << 20)) want.rlim_max = 1u << 20;
  want.rlim_cur = want.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &want) == 0) return;
  lim.rlim_cur = lim.rlim_max;  // not root: the soft limit up to the hard one
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

tcp::endpoint parse_endpoint(const std::string& addr) {
  std::size_t colon = addr.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("-addr " + addr + ": want HOST:PORT");
  std::string host = addr.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  int port = std::stoi(addr.substr(colon + 1));
  return tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port));
}

}  // namespace

int main(int argc, char** argv) {
  std::string addr = "127.0.0.1:0";
  int contexts = 1;
  bool probe = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) a = a.substr(1);
    std::string val;
    bool has_val = false;
    if (std::size_t eq = a.find('='); eq != std::string::npos) {
      val = a.substr(eq + 1), a = a.substr(0, eq), has_val = true;
    }
    if (a == "-probe") {
      probe = true;
      continue;
    }
    if (a != "-addr" && a != "-contexts" && a != "-impl" && a != "-cpuprofile" && a != "-memprofile") {
      std::fprintf(stderr, "asio_echo: unknown flag %s\n", argv[i]);
      return 2;
    }
    if (!has_val) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "asio_echo: %s needs a value\n", argv[i]);
        return 2;
      }
      val = argv[++i];
    }
    if (a == "-addr") {
      addr = val;
    } else if (a == "-contexts") {
      contexts = std::atoi(val.c_str());
    } else if (a == "-cpuprofile" || a == "-memprofile") {
      std::fprintf(stderr, "asio_echo: %s ignored (no Go profile for the C++ server)\n", a.c_str());
    }
  }
  if (contexts <= 0) contexts = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  try {
    if (probe) {
      asio::io_context ctx(1);  // throws when the backend (io_uring_queue_init) fails
      asio::ip::tcp::socket s(ctx, tcp::v4());
      std::puts("ok");
      return 0;
    }
    ::signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    std::vector<std::unique_ptr<asio::io_context>> ctxs;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
    for (int i = 0; i < contexts; i++) {
      ctxs.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*ctxs.back()));  // serve until killed
    }
    server srv(ctxs, parse_endpoint(addr));
    srv.accept();
    asio::signal_set sigs(*ctxs[0], SIGUSR1, SIGTERM, SIGINT);
    on_signal(sigs);

    tcp::endpoint ep = srv.local();
    std::string host = ep.address().to_string();
    if (ep.address().is_v6()) host = "[" + host + "]";
    std::printf("%s:%u\n", host.c_str(), static_cast<unsigned>(ep.port()));
    std::fflush(stdout);

    std::vector<std::thread> threads;
    for (int i = 1; i < contexts; i++) {
      threads.emplace_back([&ctxs, i] { ctxs[i]->run(); });
    }
    ctxs[0]->run();
    std::fprintf(stderr, "asio_echo: the io_context stopped\n");
    ::_exit(1);  // the other contexts' threads are still running
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo: %s\n", e.what());
    return 1;
  }
}
