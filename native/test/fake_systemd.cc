// fake_systemd: the part of systemd a `Type=notify` unit with a file
// descriptor store relies on, for tests on machines without systemd as PID 1.
//
//   fake_systemd NOTIFY_SOCKET_PATH -- COMMAND [ARGS...]
//
// Binds a datagram socket at NOTIFY_SOCKET_PATH and runs COMMAND with
// NOTIFY_SOCKET set. Messages from it: FDSTORE=1 (+ FDNAME=) keeps the
// attached fds under that name, FDSTOREREMOVE=1 drops the fds of a name,
// READY=1 prints "READY <pid>". Commands on stdin, one per line:
//   restart  SIGTERM the service, wait for it, start it again with the stored
//            fds as 3, 4, ... and LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID set,
//            as systemd does (prints "STARTED <pid>")
//   stop     SIGTERM, wait, exit (also on end of input)
// Prints "EXITED <status>" whenever the service exits.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Stored {
  int fd;
  std::string name;
};

std::vector<Stored> g_store;
char** g_argv = nullptr;
std::string g_socket;

pid_t Start() {
  const pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid > 0) return pid;
  // Child: move the stored fds out of the way, then down to 3, 4, ...
  std::vector<int> high;
  for (const Stored& s : g_store) high.push_back(fcntl(s.fd, F_DUPFD, 100));
  std::string names;
  for (size_t i = 0; i < high.size(); i++) {
    dup2(high[i], static_cast<int>(3 + i));  // dup2 clears FD_CLOEXEC on the new fd
    close(high[i]);
    names += (i ? ":" : "") + g_store[i].name;
  }
  if (!high.empty()) {
    setenv("LISTEN_FDS", std::to_string(high.size()).c_str(), 1);
    setenv("LISTEN_FDNAMES", names.c_str(), 1);
    setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  }
  setenv("NOTIFY_SOCKET", g_socket.c_str(), 1);
  execvp(g_argv[0], g_argv);
  perror("execvp");
  _exit(127);
}

void StopAndWait(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  printf("EXITED %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  fflush(stdout);
}

std::string Field(const std::string& text, const std::string& key) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    if (line.rfind(key + "=", 0) == 0) return line.substr(key.size() + 1);
    at = end + 1;
  }
  return "";
}

void OnMessage(int sock, pid_t pid) {
  char buf[4096];
  iovec iov{buf, sizeof(buf) - 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 253)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  const ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return;
  const std::string text(buf, static_cast<size_t>(n));
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      fds.push_back(fd);
    }
  }
  const std::string name = Field(text, "FDNAME").empty() ? "stored" : Field(text, "FDNAME");
  if (Field(text, "FDSTOREREMOVE") == "1") {
    std::vector<Stored> kept;
    for (const Stored& s : g_store) {
      if (s.name == name) {
        close(s.fd);
      } else {
        kept.push_back(s);
      }
    }
    g_store = kept;
  }
  if (Field(text, "FDSTORE") == "1") {
    for (int fd : fds) g_store.push_back({fd, name});
    printf("STORED %s %zu\n", name.c_str(), fds.size());
  } else {
    for (int fd : fds) close(fd);
  }
  if (Field(text, "READY") == "1") printf("READY %d\n", pid);
  fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || std::strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: fake_systemd NOTIFY_SOCKET_PATH -- COMMAND [ARGS...]\n");
    return 2;
  }
  g_socket = argv[1];
  g_argv = argv + 3;
  const int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (g_socket.size() >= sizeof(sa.sun_path)) return 2;
  std::memcpy(sa.sun_path, g_socket.c_str(), g_socket.size());
  unlink(g_socket.c_str());
  if (sock < 0 || bind(sock, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    perror("bind");
    return 1;
  }
  pid_t pid = Start();
  printf("STARTED %d\n", pid);
  fflush(stdout);
  std::string input;
  for (;;) {
    pollfd p[2] = {{sock, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    if (poll(p, 2, 200) < 0) continue;
    if (pid > 0) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        printf("EXITED %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        fflush(stdout);
        pid = -1;
      }
    }
    if (p[0].revents & POLLIN) OnMessage(sock, pid);
    if (p[1].revents & (POLLIN | POLLHUP)) {
      char buf[256];
      const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
      if (n <= 0) break;
      input.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = input.find('\n')) != std::string::npos) {
        const std::string cmd = input.substr(0, nl);
        input.erase(0, nl + 1);
        if (cmd == "restart") {
          StopAndWait(pid);
          pid = Start();
          printf("STARTED %d\n", pid);
          fflush(stdout);
        } else if (cmd == "stop") {
          StopAndWait(pid);
          unlink(g_socket.c_str());
          return 0;
        }
      }
    }
  }
  StopAndWait(pid);
  unlink(g_socket.c_str());
  return 0;
}
