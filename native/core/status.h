// Status: what the core returns instead of throwing. An errno and the name of
// the system call (or step) that failed, plus a short human message.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

namespace weft {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Errno(int err, const char* syscall, std::string message) {
    Status s;
    s.errno_ = err == 0 ? EIO : err;
    s.syscall_ = syscall;
    s.message_ = std::move(message);
    return s;
  }
  // Captures the current errno.
  static Status FromErrno(const char* syscall, std::string message) {
    return Errno(errno, syscall, std::move(message));
  }

  bool ok() const { return errno_ == 0; }
  int err() const { return errno_; }
  const char* syscall() const { return syscall_; }
  const std::string& message() const { return message_; }
  // "message: strerror (syscall)"
  std::string ToString() const {
    if (ok()) return "ok";
    return message_ + ": " + std::strerror(errno_) + " (" + syscall_ + ")";
  }

 private:
  int errno_ = 0;
  const char* syscall_ = "";
  std::string message_;
};

}  // namespace weft
